// Runs the log reader fuzz target, built with the project's compiler, over
// the seed logs and many thousands of deterministic mutations of them (every
// truncation, every single-byte flip, pseudo-random splices), plus any files
// or directories named on the command line (e.g. a crash libFuzzer saved).
// A crash, a sanitizer report or an escaping exception fails the test.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "replay/fuzz/log_fuzz_seeds.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

uint64_t runs = 0;

void Run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()),
                         bytes.size());
  ++runs;
}

void RunFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
      if (e->d_name[0] != '.') names.push_back(path + "/" + e->d_name);
    }
    ::closedir(dir);
    for (const std::string& name : names) RunFile(name);
    return;
  }
  std::ifstream in(path, std::ios::binary);
  Run(std::string(std::istreambuf_iterator<char>(in), {}));
}

void Mutate(const std::string& seed, std::mt19937_64& rng) {
  // Every truncation.
  for (size_t len = 0; len < seed.size(); ++len) Run(seed.substr(0, len));
  // Every single-byte flip, three ways.
  for (size_t i = 0; i < seed.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::string m = seed;
      m[i] = static_cast<char>(m[i] ^ mask);
      Run(m);
    }
  }
  // Pseudo-random overwrites, insertions, deletions and small integers.
  for (int n = 0; n < 10000; ++n) {
    std::string m = seed;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      const size_t at = rng() % m.size();
      switch (rng() % 5) {
        case 0:
          m[at] = static_cast<char>(rng());
          break;
        case 1:
          m.insert(at, 1 + rng() % 16, static_cast<char>(rng()));
          break;
        case 2:
          m.erase(at, 1 + rng() % 16);
          break;
        case 3: {  // an interesting 32-bit value, e.g. into a length
          static const uint32_t kValues[] = {
              0, 1, 7, 8, 0xff, 0x10000, 0x7fffffff, 0xffffffff};
          const uint32_t v = kValues[rng() % 8];
          for (int b = 0; b < 4 && at + b < m.size(); ++b) {
            m[at + b] = static_cast<char>(v >> (8 * b));
          }
          break;
        }
        default:
          m.resize(at);
          break;
      }
    }
    Run(m);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  // Under `bazel run` there is no TEST_TMPDIR.
  const char* test_tmp = std::getenv("TEST_TMPDIR");
  char own_tmp[] = "/tmp/log_fuzz_seeds.XXXXXX";
  const char* dir = test_tmp != nullptr ? test_tmp : ::mkdtemp(own_tmp);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  auto seeds = xv::MakeSeedLogs(dir);
  if (!seeds.ok()) {
    std::fprintf(stderr, "seed logs: %s\n",
                 std::string(seeds.status().message()).c_str());
    return 1;
  }
  std::mt19937_64 rng(20240601);
  for (const xv::SeedLog& seed : *seeds) {
    Run(seed.bytes);
    Mutate(seed.bytes, rng);
  }
  // Splices of two seeds.
  for (const xv::SeedLog& a : *seeds) {
    for (const xv::SeedLog& b : *seeds) {
      for (int n = 0; n < 50; ++n) {
        Run(a.bytes.substr(0, rng() % (a.bytes.size() + 1)) +
            b.bytes.substr(rng() % (b.bytes.size() + 1)));
      }
    }
  }
  for (int i = 1; i < argc; ++i) RunFile(argv[i]);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("%llu inputs from %zu seed logs in %.2f s (%.0f/s): no crash\n",
              static_cast<unsigned long long>(runs), seeds->size(), seconds,
              runs / seconds);
  return 0;
}
