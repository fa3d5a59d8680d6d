// The follower's side of a replicated run (DESIGN §4): it takes the
// leader's inputs from the retained log at the same ESNs, meets the leader
// at its checkpoints and stops where the leader ended. Internal to
// RunReplicated.
#ifndef EXTRAVIRT_REPLICA_FOLLOWER_ROLE_H_
#define EXTRAVIRT_REPLICA_FOLLOWER_ROLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/checkpoint_verifier.h"
#include "replica/epoch_state.h"
#include "replica/hang_detector.h"
#include "replica/retained_log.h"

namespace xv::replica_internal {

// The follower's inputs: the leader's, from the log, at the same ESN.
class FollowerInputs : public InputSource {
 public:
  // `reader`: the follower's in `log`.
  FollowerInputs(EpochState* epoch, HangDetector* hangs, RetainedLog* log,
                 int reader)
      : epoch_(epoch), hangs_(hangs), log_(log), reader_(reader) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override;
  // A halted guest with no input from the leader to wake it is a
  // divergence unless the leader ended halted at the same exit.
  absl::Status WaitForWakeup(const Machine& m, uint64_t,
                             std::vector<InputEvent>& out) override;

 private:
  EpochState* epoch_;
  HangDetector* hangs_;
  RetainedLog* log_;
  const int reader_;
};

// The follower at each rendezvous: stops at the leader's checkpoints and
// where the leader ended.
class FollowerObserver : public RunObserver {
 public:
  FollowerObserver(EpochState* epoch, const RetainedLog* log,
                   const CheckpointVerifier* checkpoints)
      : epoch_(epoch), log_(log), checkpoints_(checkpoints) {}

  absl::Status AtRendezvous(Machine& m) override;
  bool StopHere(const Machine& m) override;

 private:
  EpochState* epoch_;
  const RetainedLog* log_;
  const CheckpointVerifier* checkpoints_;
};

// How the follower's run ended, told to the epoch: an input of the
// leader's it could not take (a log divergence), a crash, or its guest's
// own end.
void ReportFollowerRunEnd(EpochState& epoch, uint64_t esn,
                          const absl::StatusOr<RunResult>& result);

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_FOLLOWER_ROLE_H_
