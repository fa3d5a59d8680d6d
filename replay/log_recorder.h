// LogRecorder: writes the nondeterminism log of one run (DESIGN §3), driven
// by whoever runs the vCPU — our run loop (machine_recorder.h) or another
// VMM's own KVM loop (see replay/own_loop_contract.h). It never
// touches KVM: the caller reports, in order,
//   - each input it applies, with the ESN of the exit it follows;
//   - each output the guest emits, with the ESN of the exit emitting it;
//   - each rendezvous (after exit `esn` was handled, its inputs applied and
//     any interrupt injected), with the state hash when CheckpointDue(esn);
//   - the end of the run.
#ifndef EXTRAVIRT_REPLAY_LOG_RECORDER_H_
#define EXTRAVIRT_REPLAY_LOG_RECORDER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "devices/output_sink.h"
#include "machine/input_event.h"
#include "replay/log_records.h"
#include "replay/log_writer.h"
#include "replay/output_digests.h"

namespace xv {

struct RecorderOptions {
  // A Checkpoint (state hash) every this many exits; 0: none, only the
  // final state at End.
  uint64_t checkpoint_interval = 20'000;
  DigestPolicy digests;
  LogWriterOptions writer;
  // The log is written out at least this often (host time), so a recorder
  // killed mid-run loses at most this much of the end of the run.
  uint64_t flush_interval_ns = 200'000'000;
};

struct RecorderStats {
  uint64_t inputs = 0;
  uint64_t outputs = 0;
  uint64_t checkpoints = 0;
  uint64_t digests = 0;
};

class LogRecorder {
 public:
  // Creates `path` and writes the header. `machine.checkpoint_interval` and
  // the digest policy fields are filled from `options`.
  static absl::StatusOr<std::unique_ptr<LogRecorder>> Create(
      const std::string& path, RecordedMachine machine,
      const RecorderOptions& options);

  // Errors are write failures of the log file.
  absl::Status RecordInput(uint64_t esn, const InputEvent& input);
  // A fault injected on purpose at the rendezvous after exit fault.esn
  // (log.capnp's Fault): call before that rendezvous's Rendezvous().
  absl::Status RecordFault(const LoggedFault& fault);
  void RecordOutput(uint64_t esn, const DeviceOutput& output);
  bool CheckpointDue(uint64_t esn) const {
    return interval_ != 0 && esn % interval_ == 0;
  }
  // `state_hash` is required exactly when CheckpointDue(esn).
  absl::Status Rendezvous(uint64_t esn, std::optional<Hash128> state_hash);
  // Writes the pending output digests and the End record, and closes the
  // log (fsync). Nothing may be recorded after it.
  absl::Status Finish(const LoggedEnd& end);

  const RecorderStats& stats() const { return stats_; }
  const LogWriter& writer() const { return writer_; }

 private:
  LogRecorder(LogWriter writer, const RecorderOptions& options);
  absl::Status Write(const LogEntry& entry);
  absl::Status MaybeFlush();

  LogWriter writer_;
  uint64_t interval_;
  uint64_t flush_interval_ns_;
  uint64_t last_flush_ns_;
  OutputDigests digests_;
  RecorderStats stats_;
  bool finished_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_LOG_RECORDER_H_
