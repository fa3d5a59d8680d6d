#include "replica/checkpoint_verifier.h"

#include <string>

#include "checkpoint/verify.h"
#include "devices/host_clock.h"

namespace xv::replica_internal {

std::optional<Trigger> CheckpointVerifier::VerifyAndMerge(uint64_t esn,
                                                          Machine& leader,
                                                          Machine& follower) {
  auto fail = [&](std::string why) {
    return Trigger{.kind = DivergenceTrigger::kCheckpoint,
                   .esn = esn,
                   .detail = std::move(why)};
  };
  auto v = VerifyReplicas(leader, follower);
  if (!v.ok()) return fail(std::string(v.status().message()));
  if (!v->verified()) return fail("checkpoint mismatch: " + v->Describe());
  ReplicaPages pages[] = {{&leader.memory(), &leader.dirty()},
                          {&follower.memory(), &follower.dirty()}};
  auto merged = merger_.MergeVerified(pages);
  if (!merged.ok()) return fail(std::string(merged.status().message()));
  // What a third replica starts from. Taken after the merge: the base now
  // holds the verified pages, the delta the hot ones kept private. Its page
  // digests are recomputed only if a third replica is ever needed.
  auto cp =
      CaptureCheckpoint(leader, /*copy_delta=*/true, /*page_digests=*/false);
  if (!cp.ok()) return fail(std::string(cp.status().message()));
  last_ = std::move(*cp);
  return std::nullopt;
}

void CheckpointVerifier::MarkVerified(uint64_t esn) {
  verified_esn_ = esn;
  last_verified_ns_ = HostClock::MonotonicNs();
  ++verified_count_;
}

}  // namespace xv::replica_internal
