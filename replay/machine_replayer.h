// ReplayLog: replays a log on a fresh Machine with no back-ends at all —
// inputs come only from the log, applied at their ESN; outputs, checkpoint
// state hashes and the end of the run are checked against it (DESIGN §2–§3).
#ifndef EXTRAVIRT_REPLAY_MACHINE_REPLAYER_H_
#define EXTRAVIRT_REPLAY_MACHINE_REPLAYER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "devices/output_sink.h"
#include "hypervisor/guest_cpu.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replay/log_replayer.h"

namespace xv {

struct ReplayOptions {
  // Stop at the rendezvous of this ESN.
  std::optional<uint64_t> until;
  // Start from this checkpoint file (taken by the recording, see
  // CheckpointFilePath in machine_recorder.h) instead of booting: only the rest
  // of the log runs.
  std::string from_checkpoint;
  // Receives the guest's outputs as they are replayed (e.g. to show its
  // serial output); optional.
  OutputSink* outputs = nullptr;
  // Sees every rendezvous before the replayer checks it: tests perturb the
  // machine through it. Optional.
  RunObserver* hook = nullptr;
  // Lets a signal handler stop the replay. Optional.
  RunController* controller = nullptr;
  // Called every `progress_every` exits with the ESN and the fraction of
  // the log file read so far.
  std::function<void(uint64_t esn, double fraction)> progress;
  uint64_t progress_every = 4096;
};

struct ReplayOutcome {
  RecordedMachine machine;  // the header (kernel image included)
  // The backend that replayed it (the recording's is machine.backend).
  std::string backend;
  RunResult result;
  ExitStats stats;
  std::optional<Hash128> final_state_hash;
  ReplayCounts counts;
  std::optional<Divergence> divergence;
  std::optional<LoggedEnd> recorded_end;
  // The whole recording was replayed and its final state matched.
  bool complete = false;
  std::vector<std::string> notes;
  std::vector<std::string> warnings;  // from the log reader
};

// The machine `header`'s recording ran on: memory, disk size, RTC and
// CPUID (no memory base).
MachineConfig RecordedMachineConfig(const RecordedMachine& header);

// Replays on `hypervisor` (any backend replays any log). Errors are
// problems with the log file or the host; a divergence is an outcome.
absl::StatusOr<ReplayOutcome> ReplayLog(const Hypervisor& hypervisor,
                                        const std::string& path,
                                        const ReplayOptions& options);

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_MACHINE_REPLAYER_H_
