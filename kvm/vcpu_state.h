// VcpuState: the complete architectural state of a vCPU, captured with
// explicit ioctls (boot, checkpoints, end of run; never per exit), and its
// deterministic hash.
#ifndef EXTRAVIRT_KVM_VCPU_STATE_H_
#define EXTRAVIRT_KVM_VCPU_STATE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_uapi.h"
#include "kvm/vcpu.h"

namespace xv {

// The XSAVE header (XSTATE_BV, XCOMP_BV, reserved) inside kvm_xsave.region.
inline constexpr size_t kXsaveHeaderOffset = 512;
inline constexpr size_t kXsaveHeaderSize = 64;

struct VcpuState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  kvm_xsave xsave{};  // x87/SSE/AVX state in the standard XSAVE layout
  kvm_xcrs xcrs{};
  kvm_vcpu_events events{};
  kvm_debugregs debugregs{};
  std::vector<MsrValue> msrs;
};

// The MSRs that are architectural guest state and move only when the guest
// writes them (SYSENTER/SYSCALL targets, kernel GS base, PAT, TSC_AUX, ...),
// restricted to those this KVM supports. Excludes the TSC and every MSR that
// moves with host time, which would make state hashes nondeterministic.
absl::StatusOr<std::vector<uint32_t>> DeterministicMsrIndices(
    const KvmSystem& kvm);

absl::StatusOr<VcpuState> CaptureVcpuState(
    const Vcpu& vcpu, std::span<const uint32_t> msr_indices);
absl::Status RestoreVcpuState(Vcpu& vcpu, const VcpuState& state);

// Calls visit(name, value bytes) for every deterministic field — what the
// state hash covers and what verification compares, by name ("rip", "cr3",
// "xmm2", "msr 0xc0000082").
using VcpuFieldVisitor =
    absl::FunctionRef<void(std::string_view, std::span<const uint8_t>)>;
void ForEachVcpuField(const VcpuState& state, const VcpuFieldVisitor& visit);

// Feeds every deterministic field into `hasher`, field by field (never raw
// struct bytes: padding is not state).
void HashVcpuState(const VcpuState& state, Hasher& hasher);

}  // namespace xv

#endif  // EXTRAVIRT_KVM_VCPU_STATE_H_
