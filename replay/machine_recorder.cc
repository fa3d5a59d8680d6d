#include "replay/machine_recorder.h"

#include <time.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/checkpoint_file.h"

namespace xv {
namespace {

absl::Status PrepareCheckpointDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot create checkpoint directory %s: %s", dir, ec.message()));
  }
  // Checkpoints of an earlier recording to the same log would not match it.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".xvcp") {
      std::filesystem::remove(entry.path(), ec);
    }
  }
  return absl::OkStatus();
}

}  // namespace

Hash128 RecordingOrigin(const RecordedMachine& header) {
  Hasher h;
  h.Update(std::string_view("xvirt-recording-origin"));
  h.Update(header.initial_state_hash);
  h.UpdateU64(static_cast<uint64_t>(header.recorded_at_unix_ns));
  return h.Digest();
}

std::string CheckpointDirPath(const std::string& log_path) {
  return log_path + ".checkpoints";
}

std::string CheckpointFilePath(const std::string& log_path, uint64_t esn) {
  return absl::StrFormat("%s/%d.xvcp", CheckpointDirPath(log_path), esn);
}

absl::Status DescribeRecordedMachine(Machine& machine,
                                     RecordedMachine& recorded) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  recorded.recorded_by = "xvirt";
  recorded.recorded_at_unix_ns =
      int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  recorded.memory_bytes = machine.config().memory_bytes;
  recorded.disk_sectors = machine.config().platform.disk_sectors;
  recorded.rtc_epoch_seconds = machine.config().platform.rtc_epoch_seconds;
  recorded.cpuid.assign(machine.cpuid().begin(), machine.cpuid().end());
  recorded.backend = std::string(machine.backend());
  auto hash = machine.StateHash();
  if (!hash.ok()) return hash.status();
  recorded.initial_state_hash = *hash;
  return absl::OkStatus();
}

absl::Status MachineRecorder::Start(const std::string& path, Machine& machine,
                                    RecordedMachine recorded,
                                    const RecorderOptions& options) {
  if (absl::Status s = DescribeRecordedMachine(machine, recorded); !s.ok()) {
    return s;
  }
  origin_ = RecordingOrigin(recorded);
  log_path_ = path;
  if (store_checkpoints_) {
    if (absl::Status s = PrepareCheckpointDir(CheckpointDirPath(path));
        !s.ok()) {
      return s;
    }
  }
  auto log = LogRecorder::Create(path, std::move(recorded), options);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  machine_ = &machine;
  return absl::OkStatus();
}

absl::Status MachineRecorder::Finish(Machine& machine,
                                     const RunResult& result) {
  LoggedEnd end{
      .esn = result.esn,
      .exit_status = result.exit_status,
      .stop_reason = std::string(StopReasonName(result.reason)),
      .debug_exit_value = result.debug_exit_value,
      .exits = result.esn,
      .wall_seconds = result.wall_seconds,
  };
  if (result.stopped_at_exit_boundary) {
    auto hash = machine.StateHash();
    if (!hash.ok()) return hash.status();
    end.final_state_hash = final_state_hash_ = *hash;
  }
  return log_->Finish(end);
}

void MachineRecorder::Emit(const DeviceOutput& output) {
  if (log_) log_->RecordOutput(machine_->esn(), output);
  if (next_ != nullptr) next_->Emit(output);
}

absl::Status MachineRecorder::OnInput(const Machine& machine,
                                      const InputEvent& input) {
  return log_->RecordInput(machine.esn(), input);
}

absl::Status MachineRecorder::AtRendezvous(Machine& machine) {
  if (extra_ != nullptr) {
    if (absl::Status s = extra_->AtRendezvous(machine); !s.ok()) return s;
  }
  const uint64_t esn = machine.esn();
  std::optional<Hash128> hash;
  if (log_->CheckpointDue(esn)) {
    if (!store_checkpoints_) {
      auto h = machine.StateHash();
      if (!h.ok()) return h.status();
      hash = *h;
    } else {
      // Written at once, so the delta is read in place, not copied.
      auto cp = CaptureCheckpoint(machine, /*copy_delta=*/false);
      if (!cp.ok()) return cp.status();
      if (absl::Status s = WriteCheckpointFile(
              CheckpointFilePath(log_path_, esn), *cp, origin_);
          !s.ok()) {
        return s;
      }
      ++checkpoint_files_;
      hash = cp->state_hash;
    }
  }
  return log_->Rendezvous(esn, hash);
}

}  // namespace xv
