// Vcpu: one KVM vCPU, its mmapped kvm_run page and its exit sequence number.
//
// General registers travel through KVM_CAP_SYNC_REGS in kvm_run on every
// exit, so reading them costs nothing and writing them costs no ioctl (each
// vCPU ioctl is ~7.5 us on our machines, KVM-NOTES.md). Everything else
// (segments, FPU, MSRs, events) is an explicit ioctl, used at boot,
// checkpoints and the end of a run, never per exit.
#ifndef EXTRAVIRT_KVM_VCPU_H_
#define EXTRAVIRT_KVM_VCPU_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"
#include "base/scoped_mapping.h"
#include "kvm/kvm_uapi.h"
#include "kvm/vcpu_exit.h"

namespace xv {

struct MsrValue {
  uint32_t index;
  uint64_t value;
  friend bool operator==(const MsrValue&, const MsrValue&) = default;
};

class Vcpu {
 public:
  static absl::StatusOr<Vcpu> Create(ScopedFd fd, ScopedMapping run);
  Vcpu(Vcpu&&) noexcept = default;
  Vcpu& operator=(Vcpu&&) noexcept = default;

  // One KVM_RUN. Exits the host causes (a signal: EINTR / KVM_EXIT_INTR,
  // immediate_exit) come back as ExitKind::kHostInterrupt and do not count;
  // every guest-initiated exit increments esn() before returning. An error
  // is returned only when the ioctl itself fails.
  absl::StatusOr<VcpuExit> Run();

  // Finishes the instruction whose exit was just handled without entering
  // the guest (KVM_RUN with immediate_exit). KVM completes a port or MMIO
  // access — result into RAX or memory, RIP past it — only at the next
  // KVM_RUN, so state captured before this shows the instruction still
  // pending, and a vCPU restored from that state would execute it twice.
  // If completing it needs userspace again (a string I/O batch crossing a
  // page), that exit is kept and returned by the next Run(), exactly where
  // it would have come anyway.
  absl::Status CompletePendingIo();

  // Guest-initiated exits so far (DESIGN §2).
  uint64_t esn() const { return esn_; }
  // For restoring a checkpoint only.
  void set_esn(uint64_t esn) { esn_ = esn; }

  // General registers as of the last exit (or the last SetRegs).
  const kvm_regs& regs() const { return run()->s.regs.regs; }
  // Writable view; the change is pushed to KVM at the next Run().
  kvm_regs& mutable_regs();

  absl::Status SetRegs(const kvm_regs& regs);
  absl::StatusOr<kvm_sregs> GetSregs() const;
  absl::Status SetSregs(const kvm_sregs& sregs);
  absl::StatusOr<kvm_fpu> GetFpu() const;
  absl::Status SetFpu(const kvm_fpu& fpu);
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
  // Guest linear address -> guest physical address (KVM_TRANSLATE).
  absl::StatusOr<uint64_t> Translate(uint64_t linear) const;

  // Userspace irqchip: queue external interrupt `vector` for delivery at
  // the next entry (KVM_INTERRUPT). Only when CanTakeInterrupt().
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
  kvm_run* run() const { return reinterpret_cast<kvm_run*>(run_.data()); }

  ScopedFd fd_;
  ScopedMapping run_;
  uint64_t esn_ = 0;
  // An exit CompletePendingIo() received, for the next Run().
  std::optional<VcpuExit> held_exit_;
  // CompletePendingIo() ran since the last Run(): nothing is pending.
  bool io_completed_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_VCPU_H_
