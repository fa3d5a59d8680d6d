// CheckpointVerifier: the verified checkpoints of a replicated run (DESIGN
// §4, §5). With both replicas stopped at checkpoint ESN k, it compares
// them (VerifyReplicas), merges the pages both wrote identically into the
// shared base (PageMerger), and keeps the verified state as the checkpoint
// a third replica is rebuilt from. It also keeps the time of the last
// verification, from which the leader's checkpoint_ms interval runs.
// Internal to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_CHECKPOINT_VERIFIER_H_
#define EXTRAVIRT_REPLICA_CHECKPOINT_VERIFIER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "checkpoint/checkpoint.h"
#include "machine/machine.h"
#include "memshare/memory_base.h"
#include "memshare/page_merger.h"
#include "replica/epoch_state.h"

namespace xv::replica_internal {

class CheckpointVerifier {
 public:
  explicit CheckpointVerifier(std::shared_ptr<MemoryBase> base)
      : merger_(std::move(base), MergePolicy{}) {}

  // Compares the replicas at checkpoint `esn` and, when they agree, merges
  // them and keeps the checkpoint (last()). A checkpoint mismatch, or a
  // failure on the way, is a trigger.
  std::optional<Trigger> VerifyAndMerge(uint64_t esn, Machine& leader,
                                        Machine& follower);
  // The run has taken note of the checkpoint at `esn`: it is the one
  // verified, and the next one by time is due from now.
  void MarkVerified(uint64_t esn);

  // Times the checkpoint_ms interval from `ns` (the run's start).
  void StartClock(uint64_t ns) { last_verified_ns_ = ns; }
  double ms_since_verified() const { return MsSince(last_verified_ns_); }

  // The last checkpoint verified; mutable because its page digests are
  // computed only when a third replica needs them.
  Checkpoint& last() { return *last_; }
  // Read by the replica threads while they run.
  uint64_t verified_esn() const { return verified_esn_; }
  uint64_t verified_count() const { return verified_count_; }

 private:
  PageMerger merger_;
  std::optional<Checkpoint> last_;
  std::atomic<uint64_t> verified_esn_{0};
  std::atomic<uint64_t> last_verified_ns_{0};
  uint64_t verified_count_ = 0;
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_CHECKPOINT_VERIFIER_H_
