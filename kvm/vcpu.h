// Vcpu: one KVM vCPU and its mmapped kvm_run page — the ioctls, nothing
// more. KvmCpu (kvm_cpu.h) builds the backend's behaviour on it.
//
// General and segment registers travel through KVM_CAP_SYNC_REGS in kvm_run
// on every exit, so reading them costs nothing and writing the general ones
// costs no ioctl (each vCPU ioctl is ~7.5 us on our machines, KVM-NOTES.md).
// Everything else (FPU, MSRs, events) is an explicit ioctl, used at boot,
// checkpoints and the end of a run, never per exit.
#ifndef EXTRAVIRT_KVM_VCPU_H_
#define EXTRAVIRT_KVM_VCPU_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"
#include "base/scoped_mapping.h"
#include "kvm/kvm_uapi.h"

namespace xv {

struct MsrValue {
  uint32_t index;
  uint64_t value;
  friend bool operator==(const MsrValue&, const MsrValue&) = default;
};

class Vcpu {
 public:
  // KVM copies the general, segment and control registers into kvm_run at
  // every exit (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS, which KvmSystem
  // requires).
  static absl::StatusOr<Vcpu> Create(ScopedFd fd, ScopedMapping run);
  Vcpu(Vcpu&&) noexcept = default;
  Vcpu& operator=(Vcpu&&) noexcept = default;

  // One KVM_RUN. True: the vCPU exited and run() says why. False: a signal
  // or immediate_exit returned it (EINTR) without a guest exit. An error
  // only when the ioctl fails otherwise.
  absl::StatusOr<bool> RunOnce();

  kvm_run* run() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  // General registers as of the last exit (or the last SetRegs).
  const kvm_regs& regs() const { return run()->s.regs.regs; }
  // Writable view; the change is pushed to KVM at the next KVM_RUN.
  kvm_regs& mutable_regs();
  // Segment and control registers as of the last exit (or the last
  // GetSregs/SetSregs).
  const kvm_sregs& synced_sregs() const { return run()->s.regs.sregs; }

  absl::Status SetRegs(const kvm_regs& regs);
  // Also refreshes synced_sregs().
  absl::StatusOr<kvm_sregs> GetSregs();
  absl::Status SetSregs(const kvm_sregs& sregs);
  absl::StatusOr<kvm_xsave> GetXsave() const;
  absl::Status SetXsave(const kvm_xsave& xsave);
  absl::StatusOr<kvm_xcrs> GetXcrs() const;
  absl::Status SetXcrs(const kvm_xcrs& xcrs);
  absl::StatusOr<kvm_vcpu_events> GetEvents() const;
  absl::Status SetEvents(const kvm_vcpu_events& events);
  absl::StatusOr<kvm_debugregs> GetDebugRegs() const;
  absl::Status SetDebugRegs(const kvm_debugregs& regs);
  // Reads the given MSRs; fails if KVM does not return all of them.
  absl::StatusOr<std::vector<MsrValue>> GetMsrs(
      std::span<const uint32_t> indices) const;
  absl::Status SetMsrs(std::span<const MsrValue> msrs);
  absl::Status SetCpuid(std::span<const kvm_cpuid_entry2> entries);

  // Userspace irqchip: queue external interrupt `vector` for delivery at
  // the next entry (KVM_INTERRUPT).
  absl::Status InjectInterrupt(uint8_t vector);
  // IF=1 and no interrupt shadow at the last exit.
  bool CanTakeInterrupt() const {
    return run()->ready_for_interrupt_injection != 0 && run()->if_flag != 0;
  }

  // Async-signal-safe: the current KVM_RUN returns as soon as the signal
  // that called this is delivered, and any later one returns at once, until
  // ClearImmediateExit().
  void RequestImmediateExit() { run()->immediate_exit = 1; }
  void ClearImmediateExit() { run()->immediate_exit = 0; }

  int fd() const { return fd_.get(); }

 private:
  Vcpu(ScopedFd fd, ScopedMapping run)
      : fd_(std::move(fd)), run_(std::move(run)) {}

  ScopedFd fd_;
  ScopedMapping run_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_VCPU_H_
