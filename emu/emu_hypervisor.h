// The software CPU backend: guests run on Unicorn (QEMU's TCG as a
// library) with the exits, state and event delivery of hypervisor/'s
// contract, so any log replays on it and on KVM alike.
#ifndef EXTRAVIRT_EMU_EMU_HYPERVISOR_H_
#define EXTRAVIRT_EMU_EMU_HYPERVISOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "hypervisor/guest_cpu.h"

namespace xv {

// The emulator backend ("emu"). Fails, saying what did not hold, when this
// libunicorn does not behave as the backend's workarounds need (checked
// once per process at start-up).
absl::StatusOr<std::unique_ptr<Hypervisor>> OpenEmuHypervisor();

}  // namespace xv

#endif  // EXTRAVIRT_EMU_EMU_HYPERVISOR_H_
