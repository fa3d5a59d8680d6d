// Small valid logs for the log reader fuzzer to start from: every record
// kind, compressed and not, one frame and many, an unknown optional kind.
#ifndef EXTRAVIRT_REPLAY_FUZZ_LOG_FUZZ_SEEDS_H_
#define EXTRAVIRT_REPLAY_FUZZ_LOG_FUZZ_SEEDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xv {

struct SeedLog {
  std::string name;
  std::string bytes;
};

// Writes each seed log under `dir` (with LogWriter) and returns their bytes.
absl::StatusOr<std::vector<SeedLog>> MakeSeedLogs(const std::string& dir);

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_FUZZ_LOG_FUZZ_SEEDS_H_
