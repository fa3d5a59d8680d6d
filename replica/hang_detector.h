// HangDetector: the "one replica did not reach an ESN the other reached
// within a timeout" trigger of DESIGN §4, as a pure function of what the
// replica threads publish (so it can be tested without threads or KVM).
//
// A replica is hung when
//   * it has stayed behind the other (its last exit is older than the
//     other's) without reaching a further exit for longer than the timeout
//     and than kSlowerFactor times what the other needed from that exit to
//     the next: it is neither waiting for anything nor making progress (a
//     long stretch without exits is progress: on a slow backend or a loaded
//     host the follower may need seconds for what took the leader seconds);
//     or
//   * it is the leader, and the follower has waited that long for it to
//     finish the exit they are both at, while the leader was not idle
//     waiting for inputs from its back-ends.
// Waiting for inputs never counts: a guest may idle for as long as it likes.
#ifndef EXTRAVIRT_REPLICA_HANG_DETECTOR_H_
#define EXTRAVIRT_REPLICA_HANG_DETECTOR_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace xv {

struct Hang {
  int role = 0;            // 0 leader, 1 follower
  uint64_t esn = 0;        // where it stayed
  uint64_t other_esn = 0;  // where the other one got
  absl::Duration stuck;
  std::string Describe() const;
};

class HangDetector {
 public:
  static constexpr int kLeader = 0;
  static constexpr int kFollower = 1;
  // How much slower than the other a replica may be over one stretch
  // between two exits before it counts as hung.
  static constexpr int kSlowerFactor = 3;

  explicit HangDetector(absl::Duration timeout) : timeout_(timeout) {}

  // Replica `role` reached exit `esn` (called at every exit).
  void Reached(int role, uint64_t esn, absl::Time now);
  // The leader waits for inputs from its back-ends (or stops waiting).
  void LeaderIdle(bool idle, absl::Time now);
  // Starts over with both replicas where they are now (after a recovery,
  // the replicas and their roles are new).
  void Reset(uint64_t leader_esn, uint64_t follower_esn, absl::Time now);

  // `follower_waiting_since`: set while the follower waits for the leader
  // to finish its current exit.
  std::optional<Hang> Check(
      absl::Time now, std::optional<absl::Time> follower_waiting_since) const;

  uint64_t reached(int role) const;

 private:
  // How long `role` worked from exit `esn` to its next one (zero if not
  // known).
  absl::Duration Stretch(int role, uint64_t esn) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration timeout_;
  mutable absl::Mutex mu_;
  uint64_t reached_[2] ABSL_GUARDED_BY(mu_) = {0, 0};
  absl::Time changed_[2] ABSL_GUARDED_BY(mu_);
  // When the other replica first got past this one (unset: not behind).
  std::optional<absl::Time> behind_since_[2] ABSL_GUARDED_BY(mu_);
  // Recent exits of each replica, oldest first, with how long it worked
  // (not counting the leader's waits for inputs) since its previous one.
  struct Step {
    uint64_t esn;
    absl::Duration worked;
  };
  std::deque<Step> history_[2] ABSL_GUARDED_BY(mu_);
  absl::Time leader_idle_ended_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool leader_idle_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time leader_idle_changed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_HANG_DETECTOR_H_
