// CheckProgress: what the manager's thread checks while both replicas of
// an epoch run (DESIGN §4): a follower whose guest ended where the leader
// did not (a divergence at once if the leader went past that exit, a hang
// if it does not get there in time), else a replica that hangs. Internal
// to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_PROGRESS_CHECK_H_
#define EXTRAVIRT_REPLICA_PROGRESS_CHECK_H_

#include <optional>

#include "absl/time/time.h"
#include "replica/epoch_state.h"
#include "replica/hang_detector.h"
#include "replica/retained_log.h"

namespace xv::replica_internal {

// `follower_reader`: the follower's reader in `log` (a follower waiting
// there for the leader is how a leader that hangs shows).
std::optional<Trigger> CheckProgress(EpochState& epoch,
                                     const HangDetector& hangs,
                                     const RetainedLog& log,
                                     int follower_reader,
                                     double hang_timeout_seconds);

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_PROGRESS_CHECK_H_
