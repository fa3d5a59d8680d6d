#include "machine/scripted_inputs.h"

#include <algorithm>

namespace xv {

absl::Status ScriptedInputs::Poll(const Machine& machine,
                                  std::vector<InputEvent>& out) {
  const PcPlatform& platform = machine.platform();
  if (step_ns_ > 0) {
    out.push_back(
        InputEvent::ClockAdvance(platform.clock().now_ns() + step_ns_));
  }
  size_t n = std::min(serial_.size(), platform.SerialRxFree());
  if (n > 0) {
    std::vector<uint8_t> bytes(serial_.begin(), serial_.begin() + n);
    serial_.erase(serial_.begin(), serial_.begin() + n);
    out.push_back(InputEvent::SerialRx(bytes));
  }
  return absl::OkStatus();
}

absl::Status ScriptedInputs::WaitForWakeup(const Machine& machine,
                                           uint64_t /*host_deadline_ns*/,
                                           std::vector<InputEvent>& out) {
  std::optional<uint64_t> deadline = machine.platform().NextDeadlineNs();
  if (!deadline) {
    return absl::FailedPreconditionError(
        "no timer is armed and the script has "
        "no more serial input");
  }
  out.push_back(InputEvent::ClockAdvance(
      std::max(*deadline, machine.platform().clock().now_ns())));
  return absl::OkStatus();
}

}  // namespace xv
