#include "replay/what_if_run.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "replay/apply_fault.h"
#include "replay/inputs_at_esn.h"
#include "replay/machine_recorder.h"
#include "replay/machine_replayer.h"

namespace xv {
namespace {

// The run's environment: the source's inputs at their ESNs, and the fault,
// applied and logged at its rendezvous before the recorder hashes it.
class WhatIfDriver : public InputSource, public RunObserver {
 public:
  WhatIfDriver(const std::vector<LoggedInput>& inputs, const LoggedFault& fault)
      : inputs_(inputs), fault_(fault) {}

  void set_recorder(MachineRecorder* recorder) { recorder_ = recorder; }
  bool fault_applied() const { return fault_applied_; }

  absl::Status Poll(const Machine& machine,
                    std::vector<InputEvent>& out) override {
    InputsInMemory<std::vector<LoggedInput>> log(inputs_, next_input_);
    // ESNs go up one at a time, so every logged ESN is passed.
    return TakeInputsAt(log, machine.esn(), out, [&](uint64_t esn) {
      return absl::InternalError(absl::StrFormat(
          "the run passed exit %d without its logged input", esn));
    });
  }

  absl::Status WaitForWakeup(const Machine& machine, uint64_t,
                             std::vector<InputEvent>& out) override {
    const size_t before = out.size();
    if (absl::Status s = Poll(machine, out); !s.ok()) return s;
    if (out.size() > before) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrFormat(
        "the guest halted after exit %d and the source logged no input "
        "there to wake it",
        machine.esn()));
  }

  absl::Status AtRendezvous(Machine& machine) override {
    if (fault_applied_ || machine.esn() != fault_.esn) return absl::OkStatus();
    if (absl::Status s = ApplyFault(machine, fault_); !s.ok()) return s;
    fault_applied_ = true;
    return recorder_->RecordFault(fault_);
  }

 private:
  const std::vector<LoggedInput>& inputs_;
  size_t next_input_ = 0;
  const LoggedFault fault_;
  MachineRecorder* recorder_ = nullptr;
  bool fault_applied_ = false;
};

}  // namespace

absl::StatusOr<WhatIfOutcome> RecordWithFault(const Hypervisor& hypervisor,
                                              const std::string& source_log,
                                              const LoggedFault& fault,
                                              const std::string& out_log,
                                              const WhatIfOptions& options) {
  if (absl::Status s = CheckFault(fault); !s.ok()) return s;
  auto source = LoggedRecording::Read(source_log);
  if (!source.ok()) return source.status();
  if (!source->faults.empty()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s already carries a fault (%s): inject into a clean recording",
        source_log, DescribeFault(source->faults.front())));
  }
  const RecordedMachine& header = source->header;
  WhatIfDriver driver(source->inputs, fault);
  MachineRecorder recorder(options.outputs, &driver);
  driver.set_recorder(&recorder);
  auto machine =
      Machine::Create(hypervisor, RecordedMachineConfig(header), &recorder);
  if (!machine.ok()) return machine.status();
  auto kernel = (*machine)->BootMultiboot(
      header.kernel_image, header.kernel_name, {.cmdline = header.cmdline});
  if (!kernel.ok()) return kernel.status();
  // What the run is made of, as the source says; who made it and when are
  // this run's.
  RecordedMachine recorded{.kernel_name = header.kernel_name,
                           .kernel_image = header.kernel_image,
                           .cmdline = header.cmdline,
                           .rtc_epoch_seconds = header.rtc_epoch_seconds};
  RecorderOptions recorder_options;
  recorder_options.checkpoint_interval = header.checkpoint_interval;
  if (absl::Status s =
          recorder.Start(out_log, **machine, recorded, recorder_options);
      !s.ok()) {
    return s;
  }
  RunLimits limits{.timeout_seconds = options.timeout_seconds,
                   .observer = &recorder};
  auto result = RunMachine(**machine, driver, limits, options.controller);
  if (!result.ok()) return result.status();
  if (absl::Status s = recorder.Finish(**machine, *result); !s.ok()) return s;
  WhatIfOutcome outcome;
  outcome.result = *result;
  outcome.recorded = recorder.log()->stats();
  outcome.fault_applied = driver.fault_applied();
  return outcome;
}

}  // namespace xv
