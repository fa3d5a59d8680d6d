// Unicorn's CPU registers <-> ArchState: everything uc_reg_read and
// uc_reg_write reach. Segment descriptor caches (and so CPL) are not among
// them in a 64-bit engine; QemuStateLayout loads those.
#ifndef EXTRAVIRT_EMU_EMU_STATE_H_
#define EXTRAVIRT_EMU_EMU_STATE_H_

#include <unicorn/unicorn.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"

namespace xv {

absl::StatusOr<GeneralRegisters> ReadGeneralRegisters(uc_engine* uc);
absl::Status WriteGeneralRegisters(uc_engine* uc, const GeneralRegisters& r);

// All of ArchState but the queued interrupt and the interrupt shadow,
// which the emulator keeps itself, and AVX's upper halves (the emulated
// CPU has no AVX).
absl::StatusOr<ArchState> ReadArchState(uc_engine* uc);

// The same fields back, except the segment selectors CS..GS, which go
// with their descriptor caches (QemuStateLayout::LoadSegments), and CR0,
// CR4 and EFER's long-mode bits, which the caller sets first.
absl::Status WriteArchRegisters(uc_engine* uc, const ArchState& s);

// EFER through the MSR interface.
absl::StatusOr<uint64_t> ReadEfer(uc_engine* uc);

}  // namespace xv

#endif  // EXTRAVIRT_EMU_EMU_STATE_H_
