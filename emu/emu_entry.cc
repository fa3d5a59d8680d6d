// libxvirt_emu.so's one exported symbol (emu_entry.lds keeps the rest
// local).
#include "emu/emu_entry.h"

#include "emu/emu_hypervisor.h"

extern "C" __attribute__((visibility("default"))) void xv_emu_open_hypervisor(
    absl::StatusOr<std::unique_ptr<xv::Hypervisor>>* result) {
  *result = xv::OpenEmuHypervisor();
}
