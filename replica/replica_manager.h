// ReplicaManager: the replica manager (DESIGN §4) behind RunReplicated. It
// owns the replicas, the retained log, the output gate and the verified
// checkpoints, and runs the replicas in epochs: both run until they end or
// a trigger stops them; after a trigger, Recovery rebuilds a third replica
// and votes, and the next epoch goes on with the survivors. Internal to
// RunReplicated.
#ifndef EXTRAVIRT_REPLICA_REPLICA_MANAGER_H_
#define EXTRAVIRT_REPLICA_REPLICA_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"
#include "machine/live_environment.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "memshare/memory_base.h"
#include "replica/checkpoint_verifier.h"
#include "replica/epoch_state.h"
#include "replica/fault_injector.h"
#include "replica/hang_detector.h"
#include "replica/output_gate.h"
#include "replica/recovery.h"
#include "replica/release_queue.h"
#include "replica/replica.h"
#include "replica/replicated_run.h"
#include "replica/retained_log.h"
#include "replica/run_recording.h"

namespace xv::replica_internal {

class ReplicaManager {
 public:
  ReplicaManager(const Hypervisor& hypervisor, MachineConfig config,
                 LiveEnvironment& env, const ReplicaOptions& options,
                 RunController* controller)
      : hypervisor_(hypervisor),
        config_(std::move(config)),
        env_(env),
        options_(options),
        controller_(controller),
        gate_(&released_),
        log_(options.channel_capacity),
        hangs_(absl::Seconds(options.hang_timeout_seconds)) {}

  absl::Status Start(std::span<const uint8_t> kernel,
                     std::string_view kernel_name,
                     const MultibootOptions& boot);
  absl::StatusOr<ReplicatedOutcome> Run();

 private:
  // One epoch's two runs, as the manager's thread sees them.
  struct EpochRuns;

  std::unique_ptr<Replica> NewReplica(std::string name);
  // Start: the shared base, the leader booted, the follower as its copy.
  absl::Status MakeBase();
  absl::Status BootLeader(std::span<const uint8_t> kernel,
                          std::string_view kernel_name,
                          const MultibootOptions& boot);
  absl::Status StartFollower();
  void PlaceFaults();

  // Epochs and recoveries until the run ends or stops fail-safe.
  absl::Status RunToTheEnd();
  // Runs both replicas until they end or a trigger stops them. Returns the
  // trigger, or nothing when both ended (or the user interrupted).
  absl::StatusOr<std::optional<Trigger>> RunEpoch();
  void StartFollowerThread(EpochState& epoch, InputSource& inputs,
                           RunObserver* observer, EpochRuns& runs);
  void StartLeaderThread(EpochState& epoch, InputSource& inputs,
                         RunObserver* observer, EpochRuns& runs);
  // Until both runs are done or something stops the epoch.
  void Watch(EpochState& epoch);
  // Stops both runs wherever they are and waits for their threads.
  void StopAndJoin(EpochState& epoch, EpochRuns& runs);
  absl::StatusOr<std::optional<Trigger>> SettleEpoch(EpochState& epoch,
                                                     EpochRuns& runs);

  // Verification, merge and the new checkpoint, on the second replica to
  // arrive at checkpoint `esn`.
  std::optional<Trigger> VerifyCheckpoint(uint64_t esn);
  // The third replica, the vote, the replacement. False: fail-safe.
  absl::StatusOr<bool> Recover(const Trigger& trigger);
  // After a recovery from different ends: true when the vote settled how
  // the run ends (the survivor had ended, and C with it).
  bool EndSettledByVote(const Trigger& trigger);
  // The end of a recording: the whole run, or up to the last verified
  // checkpoint when the run did not end verified.
  absl::Status FinishRecording();

  void Report(const ReplicaEvent& event) const {
    if (options_.on_event) options_.on_event(event);
  }
  void FailSafe(std::string why) {
    if (!outcome_.fail_safe) outcome_.fail_safe = std::move(why);
  }
  std::optional<double> RemainingSeconds() const;

  const Hypervisor& hypervisor_;
  MachineConfig config_;
  LiveEnvironment& env_;
  const ReplicaOptions options_;
  RunController* controller_;

  std::shared_ptr<MemoryBase> base_;
  ReleaseQueue released_;
  OutputGate gate_;
  RetainedLog log_;
  HangDetector hangs_;
  std::unique_ptr<CheckpointVerifier> checkpoints_;        // from Start
  std::unique_ptr<Recovery> recovery_;                     // from Start
  std::unique_ptr<RunRecording> recording_;                // when recording
  std::vector<std::unique_ptr<FaultInjector>> injectors_;  // [0]: `inject`
  ReplicaPair replicas_;
  // The epoch running, for the replicas' sinks to stop on a refused output.
  std::atomic<EpochState*> epoch_{nullptr};
  int next_name_ = 0;
  uint64_t start_ns_ = 0;
  std::optional<RunResult> leader_result_;
  ReplicatedOutcome outcome_;
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_REPLICA_MANAGER_H_
