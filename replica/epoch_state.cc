#include "replica/epoch_state.h"

#include "absl/strings/str_format.h"
#include "devices/host_clock.h"
#include "replica/replica.h"

namespace xv::replica_internal {

double MsSince(uint64_t start_ns) {
  return (HostClock::MonotonicNs() - start_ns) / 1e6;
}

void EpochState::Fail(Trigger t) {
  {
    absl::MutexLock lock(&mu_);
    if (trigger_ || interrupted_) return;
    t.detected_ns = HostClock::MonotonicNs();
    trigger_ = std::move(t);
    cv_.SignalAll();
  }
  // A replica may be waiting in the log (for the leader, or for room).
  log_->Abort();
}

void EpochState::Interrupt() {
  {
    absl::MutexLock lock(&mu_);
    interrupted_ = true;
    cv_.SignalAll();
  }
  log_->Abort();
}

void EpochState::Crashed(int role, uint64_t esn, const absl::Status& status) {
  if (stopping()) return;
  Fail({.kind = DivergenceTrigger::kCrash,
        .esn = esn,
        .detail = absl::StrFormat("the %s failed: %s", RoleName(role),
                                  status.message()),
        .culprit = role});
}

bool EpochState::stopping() {
  absl::MutexLock lock(&mu_);
  return trigger_.has_value() || interrupted_;
}

std::optional<Trigger> EpochState::trigger() {
  absl::MutexLock lock(&mu_);
  return trigger_;
}

bool EpochState::interrupted() {
  absl::MutexLock lock(&mu_);
  return interrupted_;
}

void EpochState::LeaderEnded(uint64_t esn) {
  {
    absl::MutexLock lock(&mu_);
    leader_end_ = esn;
  }
  log_->Finish();
}

std::optional<uint64_t> EpochState::leader_end() {
  absl::MutexLock lock(&mu_);
  return leader_end_;
}

void EpochState::FollowerEnded(uint64_t esn) {
  absl::MutexLock lock(&mu_);
  follower_end_ = esn;
  follower_end_time_ = absl::Now();
}

std::optional<uint64_t> EpochState::follower_end(absl::Time* when) {
  absl::MutexLock lock(&mu_);
  if (follower_end_) *when = follower_end_time_;
  return follower_end_;
}

void EpochState::ThreadDone() {
  absl::MutexLock lock(&mu_);
  ++threads_done_;
  cv_.SignalAll();
}

void EpochState::WaitForNews(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  if (threads_done_ < 2 && !trigger_ && !interrupted_) {
    cv_.WaitWithTimeout(&mu_, timeout);
  }
}

bool EpochState::both_done() {
  absl::MutexLock lock(&mu_);
  return threads_done_ == 2;
}

bool EpochState::Checkpoint(int role, uint64_t esn) {
  absl::MutexLock lock(&mu_);
  arrived_[role] = esn;
  if (arrived_[1 - role] == esn) {
    // Verification takes long and may itself fail the epoch (Fail locks).
    mu_.Unlock();
    std::optional<Trigger> failed = verify_checkpoint_(esn);
    if (failed) Fail(std::move(*failed));
    mu_.Lock();
    done_esn_ = esn;
    cv_.SignalAll();
  } else {
    while (!trigger_ && !interrupted_ && done_esn_ != esn) cv_.Wait(&mu_);
  }
  return !trigger_ && !interrupted_;
}

}  // namespace xv::replica_internal
