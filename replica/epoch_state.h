// EpochState: what the two replica threads and the manager's thread share
// during one epoch of a replicated run — both replicas running until they
// end or something stops them (DESIGN §4). The first trigger stops the
// epoch and wakes everyone waiting; both replicas meet at each checkpoint,
// where the second to arrive verifies it. Internal to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_EPOCH_STATE_H_
#define EXTRAVIRT_REPLICA_EPOCH_STATE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replica/replicated_run.h"
#include "replica/retained_log.h"

namespace xv::replica_internal {

// Host milliseconds since `start_ns` (HostClock::MonotonicNs).
double MsSince(uint64_t start_ns);

// What stopped an epoch: a divergence, with the replica the trigger itself
// blames (for a crash or a hang).
struct Trigger {
  DivergenceTrigger kind = DivergenceTrigger::kOutput;
  uint64_t esn = 0;
  std::string detail;
  std::optional<int> culprit;  // role
  uint64_t detected_ns = 0;
};

class EpochState {
 public:
  // `verify_checkpoint(esn)`: run by the second replica to arrive at
  // checkpoint `esn`; a trigger, or nothing when verified.
  using VerifyCheckpoint = std::function<std::optional<Trigger>(uint64_t)>;

  EpochState(RetainedLog* log, VerifyCheckpoint verify_checkpoint)
      : log_(log), verify_checkpoint_(std::move(verify_checkpoint)) {}

  // The first trigger wins; everyone waiting wakes up.
  void Fail(Trigger t);
  // The user stopped the run.
  void Interrupt();
  // A run that failed on its own (not because the epoch is stopping) is
  // a crashed replica.
  void Crashed(int role, uint64_t esn, const absl::Status& status);
  bool stopping();
  std::optional<Trigger> trigger();
  bool interrupted();

  // The leader's run ended at `esn`: nothing more comes into the log.
  void LeaderEnded(uint64_t esn);
  std::optional<uint64_t> leader_end();
  // The follower's run ended on its own at `esn` (not at the leader's
  // end: that is a stop point).
  void FollowerEnded(uint64_t esn);
  std::optional<uint64_t> follower_end(absl::Time* when);

  void ThreadDone();
  // Until both threads are done, something stops the epoch, or `timeout`.
  void WaitForNews(absl::Duration timeout);
  bool both_done();

  // Both replicas meet at checkpoint `esn`; the second to arrive verifies
  // it while the first waits. False when the epoch is stopping.
  bool Checkpoint(int role, uint64_t esn);

 private:
  RetainedLog* log_;
  const VerifyCheckpoint verify_checkpoint_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::optional<Trigger> trigger_ ABSL_GUARDED_BY(mu_);
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<uint64_t> leader_end_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> follower_end_ ABSL_GUARDED_BY(mu_);
  absl::Time follower_end_time_ ABSL_GUARDED_BY(mu_);
  int threads_done_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t arrived_[2] ABSL_GUARDED_BY(mu_) = {UINT64_MAX, UINT64_MAX - 1};
  uint64_t done_esn_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_EPOCH_STATE_H_
