// The one symbol libxvirt_emu.so exports: the core finds the emulator
// backend through it at run time (dlopen + dlsym), so that nothing but that
// shared object links Unicorn (GPLv2).
#ifndef EXTRAVIRT_EMU_EMU_ENTRY_H_
#define EXTRAVIRT_EMU_EMU_ENTRY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"

namespace xv {

inline constexpr char kEmuEntrySymbol[] = "xv_emu_open_hypervisor";
using EmuEntryFn =
    void (*)(absl::StatusOr<std::unique_ptr<Hypervisor>>* result);

}  // namespace xv

// Sets *result to OpenEmuHypervisor()'s answer.
extern "C" void xv_emu_open_hypervisor(
    absl::StatusOr<std::unique_ptr<xv::Hypervisor>>* result);

#endif  // EXTRAVIRT_EMU_EMU_ENTRY_H_
