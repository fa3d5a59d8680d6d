#include "replica/replicated_run.h"

#include "replica/replica_manager.h"

namespace xv {

std::string_view DivergenceTriggerName(DivergenceTrigger trigger) {
  switch (trigger) {
    case DivergenceTrigger::kOutput:
      return "output_mismatch";
    case DivergenceTrigger::kCheckpoint:
      return "checkpoint_mismatch";
    case DivergenceTrigger::kCrash:
      return "crash";
    case DivergenceTrigger::kHang:
      return "hang";
    case DivergenceTrigger::kEnd:
      return "end_mismatch";
    case DivergenceTrigger::kLog:
      return "log_mismatch";
  }
  return "?";
}

absl::StatusOr<ReplicatedOutcome> RunReplicated(
    const Hypervisor& hypervisor, MachineConfig config,
    std::span<const uint8_t> kernel, std::string_view kernel_name,
    const MultibootOptions& boot, LiveEnvironment& env,
    const ReplicaOptions& options, RunController* controller) {
  if (config.memory_base != nullptr) {
    return absl::InvalidArgumentError("RunReplicated makes its own base");
  }
  replica_internal::ReplicaManager run(hypervisor, std::move(config), env,
                                       options, controller);
  if (absl::Status s = run.Start(kernel, kernel_name, boot); !s.ok()) return s;
  absl::StatusOr<ReplicatedOutcome> outcome = run.Run();
  if (outcome.ok()) {
    outcome->backend = std::string(hypervisor.name());
    outcome->follower_backend = std::string(
        (options.follower_hypervisor != nullptr ? *options.follower_hypervisor
                                                : hypervisor)
            .name());
  }
  return outcome;
}

}  // namespace xv
