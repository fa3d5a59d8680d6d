// KvmVcpuState: everything KVM holds of a vCPU, as its ioctls return it,
// and its conversion to and from the backend-neutral ArchState. The KVM
// structs travel only as CpuState's opaque blob (an exact restore on KVM);
// hashes, verification and files see ArchState.
#ifndef EXTRAVIRT_KVM_KVM_STATE_H_
#define EXTRAVIRT_KVM_KVM_STATE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"
#include "kvm/kvm_uapi.h"
#include "kvm/vcpu.h"
#include "memshare/guest_memory.h"

namespace xv {

// The XSAVE header (XSTATE_BV, XCOMP_BV, reserved) inside kvm_xsave.region.
inline constexpr size_t kXsaveHeaderOffset = 512;

struct KvmVcpuState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_xsave xsave{};  // x87/SSE/AVX state in the standard XSAVE layout
  kvm_xcrs xcrs{};
  kvm_vcpu_events events{};
  kvm_debugregs debugregs{};
  // Those of kArchMsrs this KVM supports.
  std::vector<MsrValue> msrs;
};

// The general registers between KVM's struct and ArchState's.
GeneralRegisters FromKvmRegs(const kvm_regs& regs);
kvm_regs ToKvmRegs(const GeneralRegisters& regs);

// Reads everything with explicit ioctls (general registers from the sync
// area). `msr_indices`: the MSRs to read.
absl::StatusOr<KvmVcpuState> CaptureKvmState(
    Vcpu& vcpu, std::span<const uint32_t> msr_indices);
// Writes everything back, in the order KVM needs (modes before the
// registers that depend on them, XCR0 before the XSAVE image it enables).
absl::Status RestoreKvmState(Vcpu& vcpu, const KvmVcpuState& state);

// The architectural state in `kvm` (MSRs KVM did not report keep their
// reset values).
ArchState ToArchState(const KvmVcpuState& kvm);

// `current` with `arch` written over it: what KVM needs beyond ArchState
// (segment descriptor caches) is rebuilt as the CPU would load it, from the
// descriptors in the guest's GDT in `memory`; the rest (MXCSR_MASK, APIC
// base) stays as in `current`. Fails when a selector's descriptor cannot be
// read, or `arch` sets an MSR `current` does not hold to a non-reset value.
absl::StatusOr<KvmVcpuState> FromArchState(const ArchState& arch,
                                           const KvmVcpuState& current,
                                           const GuestMemory& memory);

// The blob CpuState carries for KVM, and back. Parse refuses a blob of
// another layout with a message naming what differs.
std::vector<uint8_t> SerializeKvmState(const KvmVcpuState& state);
absl::StatusOr<KvmVcpuState> ParseKvmState(std::span<const uint8_t> blob);

}  // namespace xv

#endif  // EXTRAVIRT_KVM_KVM_STATE_H_
