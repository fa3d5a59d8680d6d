#include "replay/machine_recorder.h"

#include <time.h>

namespace xv {

absl::Status MachineRecorder::Start(const std::string& path,
                                    const Machine& machine,
                                    RecordedMachine recorded,
                                    const RecorderOptions& options) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  recorded.recorded_by = "xvirt";
  recorded.recorded_at_unix_ns =
      int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
  recorded.memory_bytes = machine.config().memory_bytes;
  recorded.disk_sectors = machine.config().platform.disk_sectors;
  recorded.rtc_epoch_seconds = machine.config().platform.rtc_epoch_seconds;
  for (const kvm_cpuid_entry2& e : machine.cpuid()) {
    recorded.cpuid.push_back(
        {e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
  }
  auto hash = machine.StateHash();
  if (!hash.ok()) return hash.status();
  recorded.initial_state_hash = *hash;
  auto log = LogRecorder::Create(path, std::move(recorded), options);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  machine_ = &machine;
  return absl::OkStatus();
}

absl::Status MachineRecorder::Finish(const Machine& machine,
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
  next_->Emit(output);
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
    auto h = machine.StateHash();
    if (!h.ok()) return h.status();
    hash = *h;
  }
  return log_->Rendezvous(esn, hash);
}

}  // namespace xv
