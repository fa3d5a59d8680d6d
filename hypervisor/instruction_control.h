// InstructionControl: positions finer than an exit, for replay debugging
// (inspect, diff, the gdb stub). A backend that sees every instruction it
// runs (the emulator) counts them and stops where it is asked: after a
// number of instructions, before a breakpoint, after a write to a
// watched range. Run() then returns ExitKind::kHostInterrupt, which the
// guest never notices and the ESN does not count, and TakeStop() says why.
//
// What counts as one instruction is defined so that it is deterministic
// in the guest's state alone (a replay from any checkpoint meets the same
// counts) and matches what a hardware single-step does:
// * every instruction the CPU begins counts once when it begins, including
//   an exit instruction (the backend carries it out) and an instruction
//   that faults (it counts again when the handler returns to it);
// * each iteration of a REP string instruction counts as one;
// * delivering an interrupt or exception is not an instruction.
//
// KVM offers none of this on our machines (no PMU to count with; PVM runs
// CPL3 code natively, so its single-step works only at CPL0): its
// GuestCpu::instruction_control() is null.
#ifndef EXTRAVIRT_HYPERVISOR_INSTRUCTION_CONTROL_H_
#define EXTRAVIRT_HYPERVISOR_INSTRUCTION_CONTROL_H_

#include <cstdint>
#include <optional>
#include <vector>

namespace xv {

// A guest-linear byte range [begin, end).
struct LinearRange {
  uint64_t begin = 0;
  uint64_t end = 0;
  friend bool operator==(const LinearRange&, const LinearRange&) = default;
};

// Why Run() stopped for the InstructionControl.
struct DebugStop {
  enum class Kind : uint8_t {
    kLimit,       // retired() reached the limit
    kBreakpoint,  // the next instruction is at a breakpoint
    kWatchpoint,  // the last instruction wrote into a watched range
  };
  Kind kind = Kind::kLimit;
  // kBreakpoint: the breakpoint's address; kWatchpoint: the first byte
  // written inside the watched range.
  uint64_t address = 0;
  friend bool operator==(const DebugStop&, const DebugStop&) = default;
};

class InstructionControl {
 public:
  virtual ~InstructionControl() = default;

  // Instructions begun since the count was last set (see the top).
  virtual uint64_t retired() const = 0;
  // For a CPU restored from a checkpoint taken at count `n`.
  virtual void set_retired(uint64_t n) = 0;

  // Run() stops before beginning another instruction once retired() ==
  // `limit` (at once if it already is). Unset: no limit.
  virtual void set_limit(std::optional<uint64_t> limit) = 0;

  // Run() stops before beginning an instruction at one of these linear
  // addresses, except the first instruction of a Run() (so continuing from
  // a breakpoint executes it).
  virtual void set_breakpoints(std::vector<uint64_t> linear_addresses) = 0;

  // Run() stops after an instruction the guest began wrote into one of
  // these ranges (before the next one begins). Writes the VMM makes on the
  // guest's behalf (IN data, interrupt frames) are not seen.
  virtual void set_watchpoints(std::vector<LinearRange> ranges) = 0;

  // Why the last Run() returned, if it returned for one of the above; the
  // call forgets it.
  virtual std::optional<DebugStop> TakeStop() = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_INSTRUCTION_CONTROL_H_
