// ReplayToVotePoint: the third replica's replay (DESIGN §4). C, restored
// from the last verified checkpoint, runs on the retained log alone (no
// back-ends) until the point where the vote compares it with the other
// two, and says how it got there: at the point, unable to follow the log
// (what a follower that cannot follow a faulty leader also meets), or
// ended on its own.
#ifndef EXTRAVIRT_REPLICA_VOTE_REPLAY_H_
#define EXTRAVIRT_REPLICA_VOTE_REPLAY_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/retained_log.h"

namespace xv {

// Where C stops (one of them is set).
struct VotePoint {
  // Before applying the inputs of this exit (the exit itself, and its
  // outputs, done): the machine stops in its rendezvous, resumable.
  std::optional<uint64_t> before_inputs_of;
  // Before the rendezvous observer of this exit (a checkpoint).
  std::optional<uint64_t> before_checkpoint_at;
  // At the first rendezvous at or after this exit (where a replica ended).
  std::optional<uint64_t> stop_at;
};

struct VoteReplay {
  bool at_point = false;  // stopped at the vote point
  // Could not follow the log at its exit: halted with no input there to
  // wake it, or an input there does not fit its state.
  bool starved = false;
  std::optional<RunResult> ended;  // its guest ended first
};

// `entries`: the log from the checkpoint `machine` was restored from.
// Errors: the replay failed in a way the log does not explain.
absl::StatusOr<VoteReplay> ReplayToVotePoint(
    Machine& machine, std::vector<RetainedInput> entries,
    const VotePoint& point, std::optional<double> timeout_seconds);

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_VOTE_REPLAY_H_
