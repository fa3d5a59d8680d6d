// FaultSpec: one injected fault, as `xvirt replicate --inject SPEC` and the
// campaign runner name it (issue 5): a bit flipped in a register or in a
// byte of guest-physical memory, or a replica made to hang or crash, in one
// replica, at one ESN.
//
//   reg:REG:BIT@ESN[:leader|:follower]    REG: rax..r15, rip, rflags
//   mem:GPA:BIT@ESN[:leader|:follower]    GPA: hex (0x...) or decimal
//   hang@ESN[:leader|:follower]
//   crash@ESN[:leader|:follower]
//   random:SEED                           one single-bit fault, drawn
//
// The replica defaults to the leader.
#ifndef EXTRAVIRT_REPLICA_FAULT_SPEC_H_
#define EXTRAVIRT_REPLICA_FAULT_SPEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"

namespace xv {

enum class FaultKind { kRegisterBit, kMemoryBit, kHang, kCrash };
enum class ReplicaRole { kLeader, kFollower };

struct FaultSpec {
  FaultKind kind = FaultKind::kRegisterBit;
  ReplicaRole replica = ReplicaRole::kLeader;
  uint64_t esn = 0;
  std::string reg;   // kRegisterBit: "rax", ..., "rip", "rflags"
  uint64_t gpa = 0;  // kMemoryBit
  uint32_t bit = 0;  // 0..63 for registers, 0..7 for memory

  // Back to the SPEC form ParseFaultSpec() reads.
  std::string ToString() const;
  friend bool operator==(const FaultSpec&, const FaultSpec&) = default;
};

// What a random fault is drawn from: the run's length and memory size.
struct FaultSpace {
  uint64_t max_esn = 1;       // ESNs 1..max_esn
  uint64_t memory_bytes = 0;  // GPAs 0..memory_bytes-1
};

// Parses SPEC; `random:SEED` draws a single-bit register or memory fault
// in `space`, deterministically from SEED. Errors name what is wrong.
absl::StatusOr<FaultSpec> ParseFaultSpec(std::string_view spec,
                                         const FaultSpace& space);

// The general registers a fault can hit (the architectural ones).
inline constexpr const auto& kFaultRegisters = kGeneralRegisterNames;

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_FAULT_SPEC_H_
