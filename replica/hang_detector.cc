#include "replica/hang_detector.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace xv {

std::string Hang::Describe() const {
  return absl::StrFormat(
      "the %s stayed at ESN %d for %.1f s while the %s reached ESN %d",
      role == HangDetector::kLeader ? "leader" : "follower", esn,
      absl::ToDoubleSeconds(stuck),
      role == HangDetector::kLeader ? "follower" : "leader", other_esn);
}

namespace {
// Exits remembered per replica for Stretch(): the replicas are never
// further apart than the log's flow control allows.
constexpr size_t kHistory = 8192;
}  // namespace

void HangDetector::Reached(int role, uint64_t esn, absl::Time now) {
  absl::MutexLock lock(&mu_);
  const absl::Time began = role == kLeader
                               ? std::max(changed_[role], leader_idle_ended_)
                               : changed_[role];
  history_[role].push_back({esn, now - began});
  if (history_[role].size() > kHistory) history_[role].pop_front();
  reached_[role] = esn;
  changed_[role] = now;
  const int other = 1 - role;
  if (reached_[role] >= reached_[other]) behind_since_[role].reset();
  if (reached_[other] < reached_[role] && !behind_since_[other]) {
    behind_since_[other] = now;
  }
}

void HangDetector::LeaderIdle(bool idle, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (leader_idle_ && !idle) leader_idle_ended_ = now;
  leader_idle_ = idle;
  leader_idle_changed_ = now;
}

void HangDetector::Reset(uint64_t leader_esn, uint64_t follower_esn,
                         absl::Time now) {
  absl::MutexLock lock(&mu_);
  reached_[kLeader] = leader_esn;
  reached_[kFollower] = follower_esn;
  changed_[kLeader] = changed_[kFollower] = now;
  history_[kLeader].clear();
  history_[kFollower].clear();
  behind_since_[kLeader].reset();
  behind_since_[kFollower].reset();
  for (int role : {kLeader, kFollower}) {
    if (reached_[role] < reached_[1 - role]) behind_since_[role] = now;
  }
  leader_idle_ = false;
  leader_idle_changed_ = now;
  leader_idle_ended_ = absl::InfinitePast();
}

std::optional<Hang> HangDetector::Check(
    absl::Time now, std::optional<absl::Time> follower_waiting_since) const {
  absl::MutexLock lock(&mu_);
  for (int role : {kLeader, kFollower}) {
    if (!behind_since_[role]) continue;
    const absl::Duration stuck =
        now - std::max(*behind_since_[role], changed_[role]);
    const absl::Duration allowed =
        std::max(timeout_, kSlowerFactor * Stretch(1 - role, reached_[role]));
    if (stuck > allowed) {
      return Hang{role, reached_[role], reached_[1 - role], stuck};
    }
  }
  if (follower_waiting_since && !leader_idle_) {
    // Idle time before the follower started waiting does not count, nor
    // does the leader's wait for inputs that just ended.
    const absl::Duration stuck =
        now - std::max(*follower_waiting_since, leader_idle_changed_);
    if (stuck > timeout_) {
      return Hang{kLeader, reached_[kLeader], reached_[kFollower], stuck};
    }
  }
  return std::nullopt;
}

absl::Duration HangDetector::Stretch(int role, uint64_t esn) const {
  // The step that reached the exit after `esn` (ESNs grow along it).
  const auto& h = history_[role];
  auto next =
      std::upper_bound(h.begin(), h.end(), esn,
                       [](uint64_t v, const Step& s) { return v < s.esn; });
  if (next == h.begin() || next == h.end() || std::prev(next)->esn != esn) {
    return absl::ZeroDuration();
  }
  return next->worked;
}

uint64_t HangDetector::reached(int role) const {
  absl::MutexLock lock(&mu_);
  return reached_[role];
}

}  // namespace xv
