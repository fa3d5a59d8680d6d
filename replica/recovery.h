// Recovery (DESIGN §4): after a divergence, a third replica C is restored
// from the last verified checkpoint and replays the retained log to the
// vote point; the vote names the faulty replica, which is destroyed, and C
// takes its place (a faulty leader is replaced by promoting the follower,
// with C as the new follower, and the inputs the follower had not taken
// from the faulty leader's log go back to the back-ends). Internal to
// RunReplicated.
#ifndef EXTRAVIRT_REPLICA_RECOVERY_H_
#define EXTRAVIRT_REPLICA_RECOVERY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"
#include "machine/live_environment.h"
#include "replica/checkpoint_verifier.h"
#include "replica/epoch_state.h"
#include "replica/output_gate.h"
#include "replica/replica.h"
#include "replica/replicated_run.h"
#include "replica/retained_log.h"
#include "replica/vote_replay.h"

namespace xv::replica_internal {

// What one recovery came to.
struct RecoveryOutcome {
  DivergenceEvent event;
  // Set when there was no majority, or the replacement could not be made:
  // why. The run then stops fail-safe.
  std::optional<std::string> fail_safe;
};

class Recovery {
 public:
  // What recovery asks of the replica manager.
  struct Hooks {
    // A replica with its sink and the next name, no machine yet.
    std::function<std::unique_ptr<Replica>()> new_replica;
    // Told each step as it happens, one line each.
    std::function<void(const ReplicaEvent&)> report;
    // What is left of the run's time limit, when it has one.
    std::function<std::optional<double>()> seconds_left;
  };

  Recovery(const Hypervisor& hypervisor, OutputGate& gate, RetainedLog& log,
           LiveEnvironment& env, CheckpointVerifier& checkpoints, Hooks hooks)
      : hypervisor_(hypervisor),
        gate_(gate),
        log_(log),
        env_(env),
        checkpoints_(checkpoints),
        hooks_(std::move(hooks)) {}

  // Both replicas are stopped. `start_ns`: the run's start, for the
  // event's times. Errors are host failures.
  absl::StatusOr<RecoveryOutcome> Recover(const Trigger& trigger,
                                          ReplicaPair& replicas,
                                          uint64_t start_ns);

  // A checkpoint was verified: a fault the vote keeps misjudging is one
  // that recurs without any verified checkpoint in between.
  void CheckpointVerified() { recoveries_since_verified_ = 0; }

 private:
  // C, replayed to the vote point.
  struct Rebuilt {
    std::unique_ptr<Replica> replica;
    uint64_t position = 0;  // next log entry for it
    VoteReplay replay;
  };

  absl::StatusOr<Rebuilt> Rebuild(const VotePoint& point);
  // C replaces the replica of role `loser`.
  absl::Status Replace(ReplicaPair& replicas, int loser, Rebuilt& c);
  absl::Status HandOverSlot(Replica& loser, Replica& c);
  absl::Status PromoteFollower(ReplicaPair& replicas,
                               uint64_t rebuilt_position);

  const Hypervisor& hypervisor_;
  OutputGate& gate_;
  RetainedLog& log_;
  LiveEnvironment& env_;
  CheckpointVerifier& checkpoints_;
  const Hooks hooks_;
  int recoveries_since_verified_ = 0;
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_RECOVERY_H_
