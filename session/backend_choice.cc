#include "session/backend_choice.h"

#include <atomic>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "emu/emu_loader.h"
#include "kvm/kvm_hypervisor.h"
#include "kvm/kvm_system.h"

namespace xv {
namespace {

absl::StatusOr<std::unique_ptr<Hypervisor>> OpenKvm() {
  auto kvm = KvmHypervisor::Open();
  if (!kvm.ok()) return kvm.status();
  return std::unique_ptr<Hypervisor>(std::move(*kvm));
}

}  // namespace

absl::Status ValidateBackendChoice(std::string_view choice) {
  if (choice == "auto" || choice == "kvm" || choice == "emu") {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "--backend: '%s' is not one of %s", choice, kBackendChoices));
}

absl::StatusOr<std::unique_ptr<Hypervisor>> OpenBackend(std::string_view choice,
                                                        bool note_fallback) {
  if (absl::Status s = ValidateBackendChoice(choice); !s.ok()) return s;
  if (choice == "kvm") return OpenKvm();
  if (choice == "emu") return LoadEmuHypervisor();
  // auto
  auto kvm = OpenKvm();
  if (kvm.ok()) return kvm;
  auto emu = LoadEmuHypervisor();
  if (!emu.ok()) {
    return absl::Status(
        emu.status().code(),
        absl::StrFormat("no CPU backend is usable: KVM: %s; %s",
                        kvm.status().message(), emu.status().message()));
  }
  // Once per process: a command may open its backend more than once.
  static std::atomic<bool> noted{false};
  if (note_fallback && !noted.exchange(true)) {
    std::fprintf(stderr,
                 "xvirt: %s is not usable (%s); running on the emulator "
                 "backend\n",
                 DefaultKvmDevicePath().c_str(),
                 std::string(kvm.status().message()).c_str());
  }
  return emu;
}

}  // namespace xv
