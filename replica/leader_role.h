// The leader's side of a replicated run (DESIGN §4): where its inputs come
// from and what it does at each rendezvous. The leader takes the live
// inputs, logs each at its ESN for the follower, chooses the checkpoints,
// and is the only thread that hands released outputs to the back-ends.
// Internal to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_LEADER_ROLE_H_
#define EXTRAVIRT_REPLICA_LEADER_ROLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "machine/live_environment.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/checkpoint_verifier.h"
#include "replica/epoch_state.h"
#include "replica/hang_detector.h"
#include "replica/output_gate.h"
#include "replica/release_queue.h"
#include "replica/replicated_run.h"
#include "replica/retained_log.h"

namespace xv::replica_internal {

// The leader's inputs: re-queued ones first, then the live back-ends, after
// handing them the outputs the gate released since the last call.
class LeaderInputs : public InputSource {
 public:
  // `slot`: the leader's in the gate.
  LeaderInputs(EpochState* epoch, HangDetector* hangs, LiveEnvironment* env,
               ReleaseQueue* released, const OutputGate* gate, int slot)
      : epoch_(epoch),
        hangs_(hangs),
        env_(env),
        released_(released),
        gate_(gate),
        slot_(slot) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override;
  // Waits in short steps: an output the follower has yet to match (a disk
  // read request, say) can be what will wake the guest.
  absl::Status WaitForWakeup(const Machine& m, uint64_t deadline_ns,
                             std::vector<InputEvent>& out) override;

 private:
  absl::Status Wait(const Machine& m, uint64_t deadline_ns,
                    std::vector<InputEvent>& out);
  // The back-ends know of nothing to come: true when an output of the
  // leader's may still be released later and wake the guest.
  bool OutputsMayStillBeReleased();

  EpochState* epoch_;
  HangDetector* hangs_;
  LiveEnvironment* env_;
  ReleaseQueue* released_;
  const OutputGate* gate_;
  const int slot_;
};

// The leader at each rendezvous: logs its inputs, chooses checkpoints,
// publishes its progress, waits for a lagging follower.
class LeaderObserver : public RunObserver {
 public:
  LeaderObserver(EpochState* epoch, RetainedLog* log,
                 const CheckpointVerifier* checkpoints,
                 const ReplicaOptions* options)
      : epoch_(epoch),
        log_(log),
        checkpoints_(checkpoints),
        options_(options) {}

  absl::Status OnInput(const Machine& m, const InputEvent& input) override;
  absl::Status AtRendezvous(Machine& m) override;

 private:
  bool Due(uint64_t esn) const;

  EpochState* epoch_;
  RetainedLog* log_;
  const CheckpointVerifier* checkpoints_;
  const ReplicaOptions* options_;
};

// How the leader's run ended, told to the epoch: a crash, or its end (the
// end of the log) unless the epoch was stopping anyway.
void ReportLeaderRunEnd(EpochState& epoch, uint64_t esn,
                        const absl::StatusOr<RunResult>& result);

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_LEADER_ROLE_H_
