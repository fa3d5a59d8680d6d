// The CPU backend a run uses (`--backend`, xv_guest_set_backend): the one
// place above hypervisor/ that names a backend.
#ifndef EXTRAVIRT_SESSION_BACKEND_CHOICE_H_
#define EXTRAVIRT_SESSION_BACKEND_CHOICE_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"

namespace xv {

// The values --backend takes, for help texts.
inline constexpr std::string_view kBackendChoices = "auto|kvm|emu";

// Checks a --backend value without opening anything (usage errors come
// before host errors).
absl::Status ValidateBackendChoice(std::string_view choice);

// Opens the backend `choice` names: "kvm", "emu" (the emulator, loaded from
// libxvirt_emu.so: emu/emu_loader.h), or "auto": KVM where it is usable,
// else the emulator, saying so in a one-line note on stderr the first time
// in the process (unless `note_fallback` is false: a library never writes
// to stderr). The error says why the backend is unusable and what to do.
absl::StatusOr<std::unique_ptr<Hypervisor>> OpenBackend(
    std::string_view choice, bool note_fallback = true);

}  // namespace xv

#endif  // EXTRAVIRT_SESSION_BACKEND_CHOICE_H_
