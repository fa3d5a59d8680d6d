// Verification of two replicas stopped at the same rendezvous (DESIGN §4):
// vCPU state, device front-end state, the virtual clock and every page
// either dirtied since the last verified checkpoint. Pages neither wrote
// are the shared base in both and cannot differ.
#ifndef EXTRAVIRT_CHECKPOINT_VERIFY_H_
#define EXTRAVIRT_CHECKPOINT_VERIFY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "machine/machine.h"

namespace xv {

struct Difference {
  enum class Kind { kPosition, kRegister, kDevice, kClock, kPage };
  Kind kind;
  // "rip", "cr3", "xmm3", "msr 0xc0000082", "uart0", "page 0x1234000".
  std::string what;
  // The page's guest-physical address, for kPage.
  std::optional<uint64_t> gpa;
  std::string a;  // the first replica's value (hex), or a digest
  std::string b;
};

struct Verification {
  uint64_t esn = 0;
  uint64_t pages_compared = 0;
  std::vector<Difference> differences;
  bool verified() const { return differences.empty(); }
  // One line: "verified at ESN n (k pages)" or the first few differences.
  std::string Describe() const;
};

// Syncs both replicas' memory, then compares. Does not start a new epoch
// (merging does, once the caller acts on a verified result).
absl::StatusOr<Verification> VerifyReplicas(Machine& a, Machine& b);

}  // namespace xv

#endif  // EXTRAVIRT_CHECKPOINT_VERIFY_H_
