// LiveRun: boots a kernel on a fresh machine with live back-ends and runs it
// to the end, plain, recorded or replicated: what `xvirt run`, `record`,
// `replicate` and `demo` do, and what the C API's xv_run, xv_record and
// xv_replicate do.
#ifndef EXTRAVIRT_SESSION_LIVE_RUN_H_
#define EXTRAVIRT_SESSION_LIVE_RUN_H_

#include <optional>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "devices/serial_backend.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replay/log_recorder.h"
#include "replica/replicated_run.h"

namespace xv {

// What a run needs: the kernel, its machine, its back-ends, its backend.
struct RunSettings {
  std::string kernel_path;
  uint64_t memory_bytes = 256ull << 20;
  std::string disk_path;  // empty: no disk
  SerialBackendSpec serial;
  std::string cmdline;
  std::optional<double> timeout_seconds;
  int64_t rtc_epoch_seconds = 0;
  // --backend (session/backend_choice.h).
  std::string backend = "auto";
  // "auto" fell back to the emulator: say so on stderr (not in a library).
  bool note_backend_fallback = true;
};

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

}  // namespace xv

#endif  // EXTRAVIRT_SESSION_LIVE_RUN_H_
