#include "replica/progress_check.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "replica/replica.h"

namespace xv::replica_internal {
namespace {

// The follower's guest ended at `follower_end` (at `ended_at`), the leader
// has not. The leader must end at the same exit: going past it is a
// divergence at once; not getting there, a hang.
std::optional<Trigger> CheckLeaderEndsToo(const HangDetector& hangs,
                                          uint64_t follower_end,
                                          absl::Time ended_at,
                                          double hang_timeout_seconds) {
  const uint64_t lesn = hangs.reached(kLeader);
  if (lesn > follower_end) {
    return Trigger{
        .kind = DivergenceTrigger::kEnd,
        .esn = follower_end,
        .detail = absl::StrFormat(
            "the follower ended at ESN %d, the leader went on to ESN %d",
            follower_end, lesn)};
  }
  if (absl::Now() - ended_at > absl::Seconds(hang_timeout_seconds)) {
    return Trigger{.kind = DivergenceTrigger::kHang,
                   .esn = lesn,
                   .detail = absl::StrFormat(
                       "the follower ended at ESN %d; the leader stayed at "
                       "ESN %d for %.1f s",
                       follower_end, lesn, hang_timeout_seconds),
                   .culprit = kLeader};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Trigger> CheckProgress(EpochState& epoch,
                                     const HangDetector& hangs,
                                     const RetainedLog& log,
                                     int follower_reader,
                                     double hang_timeout_seconds) {
  absl::Time since;
  std::optional<absl::Time> waiting;
  if (log.waiting_for_leader(follower_reader, &since)) waiting = since;
  absl::Time ended_at;
  const std::optional<uint64_t> fend = epoch.follower_end(&ended_at);
  if (fend && !epoch.leader_end()) {
    return CheckLeaderEndsToo(hangs, *fend, ended_at, hang_timeout_seconds);
  }
  if (std::optional<Hang> h = hangs.Check(absl::Now(), waiting)) {
    return Trigger{.kind = DivergenceTrigger::kHang,
                   .esn = h->esn,
                   .detail = h->Describe(),
                   .culprit = h->role};
  }
  return std::nullopt;
}

}  // namespace xv::replica_internal
