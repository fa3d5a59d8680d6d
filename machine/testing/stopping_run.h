// Test support: an input source and an observer that stop a run in the
// middle of the rendezvous after an exit (before its inputs, while the
// guest halts, before the observer), once at each such point, so that a
// test can check that the next RunMachine() takes the rendezvous up where it
// stopped (a replica stopped for a vote must resume like this).
#ifndef EXTRAVIRT_MACHINE_TESTING_STOPPING_RUN_H_
#define EXTRAVIRT_MACHINE_TESTING_STOPPING_RUN_H_

#include <set>
#include <vector>

#include "absl/status/status.h"
#include "machine/machine.h"
#include "machine/run_loop.h"

namespace xv::testing {

// Wraps `inner`: fails (Aborted) once before the inputs of every fifth ESN
// and once at every halt, and otherwise passes on.
class StoppingInputs : public InputSource {
 public:
  explicit StoppingInputs(InputSource* inner) : inner_(inner) {}
  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    if (m.esn() % 5 == 0 && stopped_poll_.insert(m.esn()).second) {
      return absl::AbortedError("stop before the inputs");
    }
    return inner_->Poll(m, out);
  }
  absl::Status WaitForWakeup(const Machine& m, uint64_t deadline,
                             std::vector<InputEvent>& out) override {
    if (stopped_wait_.insert(m.esn()).second) {
      return absl::AbortedError("stop while halted");
    }
    return inner_->WaitForWakeup(m, deadline, out);
  }
  size_t stops() const { return stopped_poll_.size() + stopped_wait_.size(); }

 private:
  InputSource* inner_;
  std::set<uint64_t> stopped_poll_, stopped_wait_;
};

// Fails (Aborted) once at the observer step of every seventh ESN.
class StoppingObserver : public RunObserver {
 public:
  absl::Status AtRendezvous(Machine& m) override {
    if (m.esn() % 7 == 0 && stopped_.insert(m.esn()).second) {
      return absl::AbortedError("stop before the observer");
    }
    return absl::OkStatus();
  }
  size_t stops() const { return stopped_.size(); }

 private:
  std::set<uint64_t> stopped_;
};

// Runs `machine` again after every stop `inputs` and `observer` make, as a
// caller resuming a stopped replica does, until a run ends on its own.
// Errors: one that is not such a stop, or more than `max_runs` runs.
inline absl::StatusOr<RunResult> RunThroughStops(Machine& machine,
                                                 StoppingInputs& inputs,
                                                 StoppingObserver& observer,
                                                 int max_runs = 100'000) {
  for (int runs = 0; runs < max_runs; ++runs) {
    absl::StatusOr<RunResult> r = RunMachine(
        machine, inputs, {.timeout_seconds = 60, .observer = &observer});
    if (r.ok() || !absl::IsAborted(r.status())) return r;
  }
  return absl::DeadlineExceededError("the run did not end within the runs");
}

}  // namespace xv::testing

#endif  // EXTRAVIRT_MACHINE_TESTING_STOPPING_RUN_H_
