// LiveRun: boots a kernel on a fresh machine with live back-ends and runs it
// to the end — what `xvirt run`, `record` (and `demo`) do.
#ifndef EXTRAVIRT_CLI_LIVE_RUN_H_
#define EXTRAVIRT_CLI_LIVE_RUN_H_

#include <optional>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "cli/run_settings.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replay/log_recorder.h"
#include "replica/replicated_run.h"

namespace xv::cli {

struct LiveRunOutcome {
  // The backend that ran it ("kvm").
  std::string backend;
  RunResult result;
  ExitStats stats;
  // Computed only when asked for: on a big guest it is most of the time
  // xvirt spends after the guest stopped.
  std::optional<Hash128> final_state_hash;
  // Set when the run was recorded.
  std::optional<RecorderStats> recorded;
  std::optional<LogWriterStats> log_stats;
  uint64_t checkpoint_files = 0;
};

// Asks RunGuestLive to record the run into a nondeterminism log.
struct RecordRequest {
  std::string log_path;
  RecorderOptions options;
  // Also store a checkpoint file at every checkpoint (LOG.checkpoints/).
  bool checkpoint_files = false;
  // Sees every rendezvous first (tests slow the recorder down with it).
  RunObserver* hook = nullptr;
};

// Errors are failures to set up or to keep running the host side (no KVM,
// a bad image, a missing disk, a failed back-end); a guest that crashes or
// times out is an outcome. `controller` (optional) lets a signal handler
// stop the run.
absl::StatusOr<LiveRunOutcome> RunGuestLive(
    const RunSettings& settings, RunController* controller,
    bool want_state_hash, const RecordRequest* record = nullptr);

// `xvirt replicate`: the same run as two replicas (replica/replicated_run.h);
// the run's timeout applies to the leader.
// `follower_backend` (a --backend value; empty: the leader's) runs the
// follower.
absl::StatusOr<ReplicatedOutcome> RunGuestReplicated(
    const RunSettings& settings, RunController* controller,
    ReplicaOptions options, std::string_view follower_backend = "");

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_LIVE_RUN_H_
