// The CPU backend a command runs guests on (`--backend`): the one place
// above hypervisor/ that names a backend.
#ifndef EXTRAVIRT_CLI_BACKEND_CHOICE_H_
#define EXTRAVIRT_CLI_BACKEND_CHOICE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"

namespace xv::cli {

// The values --backend takes, for help texts.
inline constexpr std::string_view kBackendChoices = "auto|kvm";

// Checks a --backend value without opening anything (usage errors come
// before host errors).
absl::Status ValidateBackendChoice(std::string_view choice);

// Opens the backend `choice` names: "kvm", or "auto" (KVM; the software
// backend will be the fallback where KVM is unusable). The error says why
// the backend is unusable and what to do.
absl::StatusOr<std::unique_ptr<Hypervisor>> OpenBackend(
    std::string_view choice);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_BACKEND_CHOICE_H_
