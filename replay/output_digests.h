// OutputDigests: the running digests of each device's outputs, and the one
// rule that decides when a digest is written to the log. The recorder and
// the replayer both run it, so a replay that emits the same outputs asks for
// exactly the digests the recording wrote — and any difference in what, how
// much or when a device emitted shows up as a mismatch.
#ifndef EXTRAVIRT_REPLAY_OUTPUT_DIGESTS_H_
#define EXTRAVIRT_REPLAY_OUTPUT_DIGESTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/hash128.h"
#include "devices/output_sink.h"
#include "replay/log_records.h"

namespace xv {

struct DigestPolicy {
  // A device's digest is due once it covers this many payload bytes...
  uint32_t max_bytes = 4096;
  // ... or its oldest output is this many exits old.
  uint64_t max_exits = 10'000;
};

class OutputDigests {
 public:
  explicit OutputDigests(DigestPolicy policy) : policy_(policy) {}

  // An output emitted while handling exit `esn`.
  void Add(uint64_t esn, const DeviceOutput& output);

  // Removes and returns the digests due at the rendezvous after exit `esn`
  // (every pending one when `all`), ordered by device name. `previews`, if
  // given, receives the first bytes each covers, for divergence reports.
  std::vector<LoggedDigest> TakeDue(
      uint64_t esn, bool all, std::vector<std::string>* previews = nullptr);
  bool empty() const { return pending_.empty(); }

 private:
  struct Pending {
    Hasher hasher;
    uint32_t outputs = 0;
    uint64_t bytes = 0;
    uint64_t first_esn = 0;
    std::string preview;
  };

  DigestPolicy policy_;
  std::map<std::string, Pending, std::less<>> pending_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_OUTPUT_DIGESTS_H_
