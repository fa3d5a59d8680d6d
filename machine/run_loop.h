// The run loop: drives a Machine from its current state until it stops,
// taking inputs from an InputSource (DESIGN §2: inputs are applied after an
// exit has been handled and before re-entry; interrupts are injected only at
// guest-initiated exits where the vCPU can take them).
#ifndef EXTRAVIRT_MACHINE_RUN_LOOP_H_
#define EXTRAVIRT_MACHINE_RUN_LOOP_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"
#include "machine/input_event.h"
#include "machine/machine.h"
#include "machine/stop_reason.h"

namespace xv {

class InputSource {
 public:
  virtual ~InputSource() = default;
  // Appends the inputs to apply now, after the exit at machine.esn() was
  // handled. Never blocks. An error ends the run (e.g. a failed back-end).
  virtual absl::Status Poll(const Machine& machine,
                            std::vector<InputEvent>& out) = 0;
  // The guest halted and no interrupt is pending: block until inputs that
  // may wake it exist or until `host_deadline_ns` (CLOCK_MONOTONIC), and
  // append them (nothing on timeout or signal). FailedPrecondition means
  // nothing will ever wake the guest.
  virtual absl::Status WaitForWakeup(const Machine& machine,
                                     uint64_t host_deadline_ns,
                                     std::vector<InputEvent>& out) = 0;
};

// Lets another thread or a signal handler end a run (e.g. on Ctrl-C); the
// run stops at once with StopReason::kInterrupted.
class RunController {
 public:
  // Async-signal-safe.
  void RequestStop() {
    stop_.store(true);
    if (const CpuKicker* k = kicker_.load()) k->Kick();
  }
  bool stop_requested() const { return stop_.load(); }
  // Forgets a request, for a controller that serves several runs.
  void ClearStop() { stop_.store(false); }

 private:
  friend class RunLoop;
  std::atomic<bool> stop_{false};
  std::atomic<const CpuKicker*> kicker_{nullptr};
};

// Watches a run at the points where its state is a pure function of the
// initial state and the inputs so far: what the recorder logs and hashes,
// what the replayer checks, and where tests perturb a run on purpose.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // Every input, just before Machine::ApplyInput, at the ESN of the exit it
  // follows. An error ends the run with that error.
  virtual absl::Status OnInput(const Machine& machine,
                               const InputEvent& input) {
    return absl::OkStatus();
  }
  // The machine refused `input` in its state (`why`, InvalidArgument); the
  // run ends with what this returns (a replayer reports a divergence).
  virtual absl::Status OnRejectedInput(const Machine& machine,
                                       const InputEvent& input,
                                       const absl::Status& why) {
    return why;
  }
  // The rendezvous after each guest-initiated exit that does not end the
  // run: the exit handled, its inputs applied, any interrupt injected, the
  // vCPU about to re-enter. An error ends the run with that error.
  virtual absl::Status AtRendezvous(Machine& machine) {
    return absl::OkStatus();
  }
  // Asked at every rendezvous before the guest re-enters, and while it
  // halts: true ends the run there with StopReason::kStopPoint.
  virtual bool StopHere(const Machine& machine) { return false; }
  // Asked when the CPU returned between two exits for a host reason (a
  // kick, or a stop its InstructionControl was asked for): true ends the
  // run there with StopReason::kStopPoint, not at an exit boundary. A later
  // run continues from there.
  virtual bool StopBetweenExits(const Machine& machine) { return false; }
};

// Ends a run at the first rendezvous at or after an ESN (kStopPoint).
class StopAtEsn : public RunObserver {
 public:
  explicit StopAtEsn(uint64_t esn) : esn_(esn) {}
  bool StopHere(const Machine& machine) override {
    return machine.esn() >= esn_;
  }

 private:
  uint64_t esn_;
};

struct RunLimits {
  // Wall-clock limit for the whole run, including time the guest spends
  // computing without any exit (it is then interrupted by a host kick).
  std::optional<double> timeout_seconds;
  // Optional; must outlive the run.
  RunObserver* observer = nullptr;
};

struct RunResult {
  StopReason reason = StopReason::kDebugExit;
  std::string message;
  uint64_t debug_exit_value = 0;
  int exit_status = 0;  // what `xvirt` exits with
  uint64_t esn = 0;
  double wall_seconds = 0;
  // The run stopped at a point that is a function of the inputs alone (an
  // exit, a rendezvous, a halt), so a replay can reproduce its final state.
  // False when a timeout or an interrupt caught the guest between exits.
  bool stopped_at_exit_boundary = true;
};

// Runs `machine` on the calling thread until it stops. Errors are failures
// of the host side (an ioctl, a back-end); a guest that crashes or hangs is
// a RunResult with the reason. An input the machine rejects in its state
// (Machine::ApplyInput) ends the run with InvalidArgument.
absl::StatusOr<RunResult> RunMachine(Machine& machine, InputSource& inputs,
                                     const RunLimits& limits,
                                     RunController* controller = nullptr);

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_RUN_LOOP_H_
