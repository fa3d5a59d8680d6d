#include "replay/machine_replayer.h"

#include "absl/strings/str_format.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/checkpoint_file.h"
#include "replay/apply_fault.h"
#include "replay/machine_recorder.h"

namespace xv {
namespace {

// The replayed machine's environment: the log is its only input source,
// and its outputs go to the replayer to be checked.
class ReplayDriver : public InputSource, public RunObserver, public OutputSink {
 public:
  ReplayDriver(LogReplayer& log, const ReplayOptions& options)
      : log_(log), options_(options) {}

  void set_machine(const Machine* machine) { machine_ = machine; }

  void Emit(const DeviceOutput& output) override {
    log_.OnOutput(machine_->esn(), output);
    if (options_.outputs != nullptr) options_.outputs->Emit(output);
  }

  absl::Status Poll(const Machine& machine,
                    std::vector<InputEvent>& out) override {
    return log_.InputsAt(machine.esn(), out);
  }

  absl::Status WaitForWakeup(const Machine& machine,
                             uint64_t /*host_deadline_ns*/,
                             std::vector<InputEvent>& out) override {
    const size_t before = out.size();
    if (absl::Status s = log_.InputsAt(machine.esn(), out); !s.ok()) return s;
    if (out.size() > before) return absl::OkStatus();
    return log_.StuckHalted(machine.esn());
  }

  absl::Status AtRendezvous(Machine& machine) override {
    std::vector<LoggedFault> faults;
    if (absl::Status s = log_.FaultsAt(machine.esn(), faults); !s.ok()) {
      return s;
    }
    for (const LoggedFault& fault : faults) {
      if (absl::Status s = ApplyFault(machine, fault); !s.ok()) return s;
    }
    if (options_.hook != nullptr) {
      if (absl::Status s = options_.hook->AtRendezvous(machine); !s.ok()) {
        return s;
      }
    }
    const uint64_t esn = machine.esn();
    auto due = log_.CheckpointDue(esn);
    if (!due.ok()) return due.status();
    std::optional<Hash128> hash;
    if (*due) {
      auto h = machine.StateHash();
      if (!h.ok()) return h.status();
      hash = *h;
    }
    if (options_.progress && esn % options_.progress_every == 0) {
      const LogReaderStats& r = log_.reader().stats();
      options_.progress(
          esn, r.file_bytes == 0 ? 1.0 : double(r.stored_bytes) / r.file_bytes);
    }
    return log_.Rendezvous(esn, hash);
  }

  bool StopHere(const Machine& machine) override {
    return log_.StopHere(machine.esn());
  }

  // The replayed machine cannot take an input the recording gave it: its
  // state already differs from the recording's.
  absl::Status OnRejectedInput(const Machine& machine, const InputEvent& input,
                               const absl::Status& why) override {
    return log_.ReportDivergence(
        machine.esn(), absl::StrFormat("input %s", InputKindName(input.kind)),
        "the machine takes the recorded input", std::string(why.message()));
  }

 private:
  LogReplayer& log_;
  const ReplayOptions& options_;
  const Machine* machine_ = nullptr;
};

void DescribeWhere(const Machine& machine, Divergence& d) {
  d.rip = machine.cpu().regs().rip;
  d.guest_position = machine.DescribeGuestPosition();
  d.last_exit = machine.DescribeLastExit();
}

// A machine from a checkpoint file of this recording: the file must come
// from the same recording (RecordingOrigin) and the same machine.
absl::StatusOr<std::unique_ptr<Machine>> RestoreFromFile(
    const Hypervisor& hypervisor, const std::string& path,
    const RecordedMachine& header, const MachineConfig& config,
    OutputSink* outputs) {
  auto file = ReadCheckpointFile(path);
  if (!file.ok()) return file.status();
  const Checkpoint& cp = file->checkpoint;
  if (file->origin != RecordingOrigin(header)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s belongs to another recording than this log (recording %s, not "
        "%s)",
        path, file->origin.ToHex(), RecordingOrigin(header).ToHex()));
  }
  if (cp.memory_bytes != config.memory_bytes ||
      cp.platform.disk_sectors != config.platform.disk_sectors ||
      cp.platform.rtc_epoch_seconds != config.platform.rtc_epoch_seconds ||
      cp.cpuid != header.cpuid) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s was taken on a different machine than this log records "
        "(memory, disk, RTC or CPUID differ)",
        path));
  }
  auto machine = RestoreCheckpoint(hypervisor, cp, outputs);
  if (!machine.ok()) {
    return absl::Status(
        machine.status().code(),
        absl::StrFormat("%s: %s", path,
                        std::string(machine.status().message())));
  }
  return machine;
}

}  // namespace

MachineConfig RecordedMachineConfig(const RecordedMachine& header) {
  MachineConfig config;
  config.memory_bytes = header.memory_bytes;
  config.platform.disk_sectors = header.disk_sectors;
  config.platform.rtc_epoch_seconds = header.rtc_epoch_seconds;
  config.cpuid = header.cpuid;
  return config;
}

absl::StatusOr<ReplayOutcome> ReplayLog(const Hypervisor& hypervisor,
                                        const std::string& path,
                                        const ReplayOptions& options) {
  auto log = LogReplayer::Open(path, options.until);
  if (!log.ok()) return log.status();
  ReplayOutcome outcome;
  const RecordedMachine& header = (*log)->machine();

  ReplayDriver driver(**log, options);
  const MachineConfig config = RecordedMachineConfig(header);
  absl::StatusOr<std::unique_ptr<Machine>> machine;
  absl::Status run_status;
  if (options.from_checkpoint.empty()) {
    machine = Machine::Create(hypervisor, config, &driver);
    if (!machine.ok()) return machine.status();
    driver.set_machine(machine->get());
    auto kernel = (*machine)->BootMultiboot(
        header.kernel_image, header.kernel_name, {.cmdline = header.cmdline});
    if (!kernel.ok()) return kernel.status();
    auto initial = (*machine)->StateHash();
    if (!initial.ok()) return initial.status();
    run_status = (*log)->CheckInitialState(*initial);
  } else {
    machine = RestoreFromFile(hypervisor, options.from_checkpoint, header,
                              config, &driver);
    if (!machine.ok()) return machine.status();
    driver.set_machine(machine->get());
    auto hash = (*machine)->StateHash();
    if (!hash.ok()) return hash.status();
    run_status = (*log)->ResumeAt((*machine)->esn(), *hash);
    if (!run_status.ok() && !(*log)->divergence()) return run_status;
  }
  if (run_status.ok()) {
    RunLimits limits{.observer = &driver};
    auto result = RunMachine(**machine, driver, limits, options.controller);
    if (result.ok()) {
      outcome.result = *result;
      if (result->stopped_at_exit_boundary) {
        auto hash = (*machine)->StateHash();
        if (!hash.ok()) return hash.status();
        outcome.final_state_hash = *hash;
      }
      if (result->reason != StopReason::kInterrupted) {
        run_status = (*log)->Finish(
            {.esn = result->esn,
             .exit_status = result->exit_status,
             .stop_reason = std::string(StopReasonName(result->reason)),
             .debug_exit_value = result->debug_exit_value,
             .at_stop_point = result->reason == StopReason::kStopPoint,
             .final_state_hash = outcome.final_state_hash});
      } else {
        outcome.notes.push_back(absl::StrFormat(
            "replay interrupted at ESN %d: verified up to ESN %d", result->esn,
            (*log)->counts().last_verified_esn));
      }
    } else {
      run_status = result.status();
      outcome.result.esn = (*machine)->esn();
      outcome.result.reason = StopReason::kStopPoint;
      outcome.result.message = std::string(run_status.message());
    }
  }
  outcome.divergence = (*log)->divergence();
  if (outcome.divergence) {
    DescribeWhere(**machine, *outcome.divergence);
  } else if (!run_status.ok()) {
    return run_status;  // the log or the host failed, not the guest
  }
  outcome.machine = header;
  outcome.backend = std::string(hypervisor.name());
  outcome.stats = (*machine)->stats();
  outcome.counts = (*log)->counts();
  outcome.recorded_end = (*log)->recorded_end();
  outcome.complete = (*log)->complete();
  for (const std::string& n : (*log)->notes()) outcome.notes.push_back(n);
  outcome.warnings = (*log)->reader().warnings();
  return outcome;
}

}  // namespace xv
