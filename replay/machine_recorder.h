// MachineRecorder: records a run of our Machine under RunMachine(). It sits
// on the run's single input path (RunObserver::OnInput) and between the
// machine and its back-ends (OutputSink), and feeds a LogRecorder.
#ifndef EXTRAVIRT_REPLAY_MACHINE_RECORDER_H_
#define EXTRAVIRT_REPLAY_MACHINE_RECORDER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "devices/output_sink.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replay/log_recorder.h"

namespace xv {

// Where a recording to `log_path` stores its checkpoint files:
// LOG.checkpoints/ESN.xvcp.
std::string CheckpointDirPath(const std::string& log_path);
std::string CheckpointFilePath(const std::string& log_path, uint64_t esn);

// What names one recording in its checkpoint files: its header's initial
// state hash and the time it was made (two recordings of one guest start
// in the same state).
Hash128 RecordingOrigin(const RecordedMachine& header);

// Completes a log header with what `machine` says of itself (memory, disk,
// RTC epoch, CPUID, initial state hash) and who recorded it when. Call
// after the kernel was loaded and before the run.
absl::Status DescribeRecordedMachine(Machine& machine,
                                     RecordedMachine& recorded);

class MachineRecorder : public RunObserver, public OutputSink {
 public:
  // Outputs go on to `next` (the live back-ends; optional). `extra`
  // (optional) sees every rendezvous first — tests use it to slow the
  // recorder down, a what-if run to inject its fault.
  explicit MachineRecorder(OutputSink* next, RunObserver* extra = nullptr)
      : next_(next), extra_(extra) {}

  // Call after the kernel was loaded and before the run: writes the log's
  // header, completing `recorded` (kernel image, name, command line, RTC
  // epoch) with the machine's configuration, CPUID and initial state hash.
  absl::Status Start(const std::string& path, Machine& machine,
                     RecordedMachine recorded, const RecorderOptions& options);
  // Call before Start(): also store a full checkpoint file at every logged
  // checkpoint, in CheckpointDirPath(log) (created; stale *.xvcp files
  // there are removed), so a replay can start mid-log
  // (ReplayOptions::from_checkpoint).
  void StoreCheckpointFiles() { store_checkpoints_ = true; }
  uint64_t checkpoint_files() const { return checkpoint_files_; }

  // Call after the run: the End record (with the final state hash when the
  // run stopped at an exit boundary), then closes the log.
  absl::Status Finish(Machine& machine, const RunResult& result);

  void Emit(const DeviceOutput& output) override;
  absl::Status OnInput(const Machine& machine,
                       const InputEvent& input) override;
  absl::Status AtRendezvous(Machine& machine) override;

  // Logs a fault injected at the present rendezvous (before this
  // recorder's AtRendezvous hashes it: from the `extra` observer).
  absl::Status RecordFault(const LoggedFault& fault) {
    return log_->RecordFault(fault);
  }

  const LogRecorder* log() const { return log_.get(); }
  // The final state hash Finish() logged, if the run stopped at an exit
  // boundary.
  const std::optional<Hash128>& final_state_hash() const {
    return final_state_hash_;
  }

 private:
  OutputSink* next_;
  RunObserver* extra_;
  const Machine* machine_ = nullptr;
  std::unique_ptr<LogRecorder> log_;
  std::optional<Hash128> final_state_hash_;
  bool store_checkpoints_ = false;
  std::string log_path_;
  Hash128 origin_;  // the initial state hash: names the recording
  uint64_t checkpoint_files_ = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_MACHINE_RECORDER_H_
