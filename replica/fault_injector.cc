#include "replica/fault_injector.h"

#include "absl/strings/str_format.h"
#include "devices/host_clock.h"
#include "replay/apply_fault.h"

namespace xv {

absl::Status FaultInjector::OnInput(const Machine& machine,
                                    const InputEvent& input) {
  return next_ != nullptr ? next_->OnInput(machine, input) : absl::OkStatus();
}

bool FaultInjector::StopHere(const Machine& machine) {
  return next_ != nullptr && next_->StopHere(machine);
}

absl::Status FaultInjector::AtRendezvous(Machine& machine) {
  if (!injected_.load() && machine.esn() >= spec_.esn) {
    if (absl::Status s = Apply(machine); !s.ok()) return s;
  }
  return next_ != nullptr ? next_->AtRendezvous(machine) : absl::OkStatus();
}

absl::Status FaultInjector::Apply(Machine& machine) {
  injected_at_ns_.store(HostClock::MonotonicNs());
  const char* who =
      spec_.replica == ReplicaRole::kLeader ? "leader" : "follower";
  switch (spec_.kind) {
    case FaultKind::kRegisterBit: {
      // The bit flips in the state after the exit's instruction completed,
      // as a replay of a log carrying the fault flips it.
      if (absl::Status s = ApplyFault(
              machine,
              {.esn = machine.esn(), .reg = spec_.reg, .bit = spec_.bit});
          !s.ok()) {
        return s;
      }
      description_ = absl::StrFormat("%s bit %d flipped at ESN %d (%s)",
                                     spec_.reg, spec_.bit, machine.esn(), who);
      break;
    }
    case FaultKind::kMemoryBit: {
      uint8_t byte = 0;
      if (absl::Status s = machine.memory().Read(spec_.gpa, {&byte, 1});
          !s.ok()) {
        return s;
      }
      byte ^= static_cast<uint8_t>(1u << spec_.bit);
      if (absl::Status s = machine.memory().Write(spec_.gpa, {&byte, 1});
          !s.ok()) {
        return s;
      }
      description_ =
          absl::StrFormat("memory 0x%x bit %d flipped at ESN %d (%s)",
                          spec_.gpa, spec_.bit, machine.esn(), who);
      break;
    }
    case FaultKind::kCrash:
      injected_.store(true);
      description_ =
          absl::StrFormat("crash injected at ESN %d (%s)", machine.esn(), who);
      return absl::InternalError(description_);
    case FaultKind::kHang:
      injected_.store(true);
      description_ =
          absl::StrFormat("hang injected at ESN %d (%s)", machine.esn(), who);
      release_.WaitForNotification();
      return absl::CancelledError(description_ + ", released");
  }
  injected_.store(true);
  return absl::OkStatus();
}

}  // namespace xv
