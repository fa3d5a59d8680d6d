// log_fuzz_seeds DIR: writes the seed corpus of the log reader fuzzer into
// DIR (which must exist).
#include <cstdio>

#include "replay/fuzz/log_fuzz_seeds.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  auto seeds = xv::MakeSeedLogs(argv[1]);
  if (!seeds.ok()) {
    std::fprintf(stderr, "log_fuzz_seeds: %s\n",
                 std::string(seeds.status().message()).c_str());
    return 1;
  }
  for (const xv::SeedLog& seed : *seeds) {
    std::printf("%s/%s (%zu bytes)\n", argv[1], seed.name.c_str(),
                seed.bytes.size());
  }
  return 0;
}
