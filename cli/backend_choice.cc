#include "cli/backend_choice.h"

#include "absl/strings/str_format.h"
#include "kvm/kvm_hypervisor.h"

namespace xv::cli {

absl::Status ValidateBackendChoice(std::string_view choice) {
  if (choice == "auto" || choice == "kvm") return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrFormat(
      "--backend: '%s' is not one of %s", choice, kBackendChoices));
}

absl::StatusOr<std::unique_ptr<Hypervisor>> OpenBackend(
    std::string_view choice) {
  if (absl::Status s = ValidateBackendChoice(choice); !s.ok()) return s;
  auto kvm = KvmHypervisor::Open();
  if (!kvm.ok()) return kvm.status();
  return std::unique_ptr<Hypervisor>(std::move(*kvm));
}

}  // namespace xv::cli
