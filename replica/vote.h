// The vote after a divergence (DESIGN §4): where the third replica C stops
// and how the others are compared with it there (the table in
// replica/README.md), and which of the two agrees with C. Internal to
// RunReplicated.
#ifndef EXTRAVIRT_REPLICA_VOTE_H_
#define EXTRAVIRT_REPLICA_VOTE_H_

#include <array>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "replica/epoch_state.h"
#include "replica/replica.h"
#include "replica/vote_replay.h"

namespace xv::replica_internal {

struct VotePlan {
  VotePoint point;  // where C stops
  // The outputs compared: those up to and including this exit.
  uint64_t through = 0;
  bool compare_states = false;
};

// `reached`: each role's exit (by role) where the trigger stopped it.
// `pending_checkpoint`: the first checkpoint marked after the last
// verified one, if any.
VotePlan PlanVote(const Trigger& trigger,
                  const std::array<uint64_t, 2>& reached,
                  std::optional<uint64_t> pending_checkpoint);

// Which of the two replicas (by role) agree with C, replayed to the vote
// point as `replay` says. A replica the trigger blames, or that failed, is
// no candidate and never agrees. Errors are host failures.
absl::StatusOr<std::array<bool, 2>> Vote(const Trigger& trigger,
                                         const VotePlan& plan, Replica& c,
                                         const VoteReplay& replay,
                                         ReplicaPair& replicas);

// The role of the one replica that agrees with C. None when neither does,
// or both (the divergence did not reproduce, and nobody can be named).
std::optional<int> Survivor(const std::array<bool, 2>& agrees);

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_VOTE_H_
