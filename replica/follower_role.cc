#include "replica/follower_role.h"

#include <optional>
#include <string>

#include "absl/strings/str_format.h"
#include "replica/replica.h"

namespace xv::replica_internal {

absl::Status FollowerInputs::Poll(const Machine& m,
                                  std::vector<InputEvent>& out) {
  hangs_->Reached(kFollower, m.esn(), absl::Now());
  return log_->Take(reader_, m.esn(), out);
}

absl::Status FollowerInputs::WaitForWakeup(const Machine& m, uint64_t,
                                           std::vector<InputEvent>& out) {
  if (absl::Status s = log_->Take(reader_, m.esn(), out); !s.ok()) return s;
  if (!out.empty()) return absl::OkStatus();
  std::optional<uint64_t> end = epoch_->leader_end();
  if (end && *end == m.esn()) {
    return absl::FailedPreconditionError("the leader ended halted here too");
  }
  // The leader went on past this exit without an input that wakes the
  // guest: one of the two is wrong about where the guest halts.
  epoch_->Fail({.kind = DivergenceTrigger::kLog,
                .esn = m.esn(),
                .detail = absl::StrFormat(
                    "the follower halted at ESN %d, where the leader placed "
                    "no input to wake it",
                    m.esn())});
  return absl::AbortedError("stuck");
}

absl::Status FollowerObserver::AtRendezvous(Machine& m) {
  const uint64_t esn = m.esn();
  if (esn > checkpoints_->verified_esn() && log_->IsCheckpoint(esn)) {
    if (absl::Status s = m.SyncMemory(); !s.ok()) return s;
    if (!epoch_->Checkpoint(kFollower, esn)) {
      return absl::AbortedError("stopping");
    }
  }
  if (epoch_->stopping()) return absl::AbortedError("stopping");
  return absl::OkStatus();
}

bool FollowerObserver::StopHere(const Machine& m) {
  std::optional<uint64_t> end = epoch_->leader_end();
  return end && m.esn() >= *end;
}

void ReportFollowerRunEnd(EpochState& epoch, uint64_t esn,
                          const absl::StatusOr<RunResult>& result) {
  if (!result.ok() && absl::IsInvalidArgument(result.status())) {
    // The leader's input does not fit the follower's state: one of the
    // two is wrong about the guest, as when it halts with no input.
    if (!epoch.stopping()) {
      epoch.Fail({.kind = DivergenceTrigger::kLog,
                  .esn = esn,
                  .detail = "the follower could not take the leader's "
                            "input: " +
                            std::string(result.status().message())});
    }
  } else if (!result.ok()) {
    epoch.Crashed(kFollower, esn, result.status());
  } else if (result->reason != StopReason::kStopPoint &&
             result->reason != StopReason::kInterrupted) {
    epoch.FollowerEnded(esn);
  }
}

}  // namespace xv::replica_internal
