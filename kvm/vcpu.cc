#include "kvm/vcpu.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

// ioctl with a typed argument; `name` goes into the error.
template <typename T>
absl::Status VcpuIoctl(int fd, unsigned long request, T* arg,
                       const char* name) {
  if (::ioctl(fd, request, arg) != 0) return absl::ErrnoToStatus(errno, name);
  return absl::OkStatus();
}

template <typename T>
absl::StatusOr<T> VcpuGet(int fd, unsigned long request, const char* name) {
  T value{};
  absl::Status s = VcpuIoctl(fd, request, &value, name);
  if (!s.ok()) return s;
  return value;
}

}  // namespace

absl::StatusOr<Vcpu> Vcpu::Create(ScopedFd fd, ScopedMapping run) {
  Vcpu vcpu(std::move(fd), std::move(run));
  // Keep the sync-regs copy valid from the start, so regs() never shows
  // stale zeros before the first exit.
  kvm_regs regs{};
  if (absl::Status s =
          VcpuIoctl(vcpu.fd(), KVM_GET_REGS, &regs, "KVM_GET_REGS");
      !s.ok()) {
    return s;
  }
  vcpu.run()->s.regs.regs = regs;
  vcpu.run()->kvm_valid_regs = KVM_SYNC_X86_REGS;
  return vcpu;
}

absl::StatusOr<VcpuExit> Vcpu::Run() {
  io_completed_ = false;
  if (held_exit_) {
    VcpuExit exit = *held_exit_;
    held_exit_.reset();
    if (IsGuestInitiated(exit.kind)) ++esn_;
    return exit;
  }
  kvm_run* r = run();
  r->kvm_valid_regs = KVM_SYNC_X86_REGS;
  if (::ioctl(fd_.get(), KVM_RUN, 0) != 0) {
    if (errno == EINTR) {
      VcpuExit exit;
      exit.kind = ExitKind::kHostInterrupt;
      exit.raw_reason = KVM_EXIT_INTR;
      return exit;
    }
    return absl::ErrnoToStatus(errno, "KVM_RUN");
  }
  VcpuExit exit = DecodeExit(r);
  if (IsGuestInitiated(exit.kind)) ++esn_;
  return exit;
}

absl::Status Vcpu::CompletePendingIo() {
  if (held_exit_ || io_completed_) return absl::OkStatus();  // done already
  kvm_run* r = run();
  r->kvm_valid_regs = KVM_SYNC_X86_REGS;
  // A kick that set the flag before us must survive; one landing during
  // this call is lost, which the run loop tolerates (it checks its stop
  // conditions before every KVM_RUN).
  const uint8_t kicked = r->immediate_exit;
  r->immediate_exit = 1;
  const int rc = ::ioctl(fd_.get(), KVM_RUN, 0);
  const int err = errno;
  r->immediate_exit = kicked;
  if (rc != 0) {
    if (err != EINTR) {
      return absl::ErrnoToStatus(err, "KVM_RUN (completing pending I/O)");
    }
    io_completed_ = true;
    return absl::OkStatus();
  }
  held_exit_ = DecodeExit(r);
  return absl::OkStatus();
}

kvm_regs& Vcpu::mutable_regs() {
  run()->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
  return run()->s.regs.regs;
}

absl::Status Vcpu::SetRegs(const kvm_regs& regs) {
  kvm_regs copy = regs;
  if (absl::Status s =
          VcpuIoctl(fd_.get(), KVM_SET_REGS, &copy, "KVM_SET_REGS");
      !s.ok()) {
    return s;
  }
  run()->s.regs.regs = regs;
  run()->kvm_dirty_regs &= ~static_cast<uint64_t>(KVM_SYNC_X86_REGS);
  return absl::OkStatus();
}

absl::StatusOr<kvm_sregs> Vcpu::GetSregs() const {
  return VcpuGet<kvm_sregs>(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS");
}
absl::Status Vcpu::SetSregs(const kvm_sregs& sregs) {
  kvm_sregs copy = sregs;
  return VcpuIoctl(fd_.get(), KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
}
absl::StatusOr<kvm_fpu> Vcpu::GetFpu() const {
  return VcpuGet<kvm_fpu>(fd_.get(), KVM_GET_FPU, "KVM_GET_FPU");
}
absl::Status Vcpu::SetFpu(const kvm_fpu& fpu) {
  kvm_fpu copy = fpu;
  return VcpuIoctl(fd_.get(), KVM_SET_FPU, &copy, "KVM_SET_FPU");
}
absl::StatusOr<kvm_xsave> Vcpu::GetXsave() const {
  return VcpuGet<kvm_xsave>(fd_.get(), KVM_GET_XSAVE, "KVM_GET_XSAVE");
}
absl::Status Vcpu::SetXsave(const kvm_xsave& xsave) {
  kvm_xsave copy = xsave;
  return VcpuIoctl(fd_.get(), KVM_SET_XSAVE, &copy, "KVM_SET_XSAVE");
}
absl::StatusOr<kvm_xcrs> Vcpu::GetXcrs() const {
  return VcpuGet<kvm_xcrs>(fd_.get(), KVM_GET_XCRS, "KVM_GET_XCRS");
}
absl::Status Vcpu::SetXcrs(const kvm_xcrs& xcrs) {
  kvm_xcrs copy = xcrs;
  return VcpuIoctl(fd_.get(), KVM_SET_XCRS, &copy, "KVM_SET_XCRS");
}
absl::StatusOr<kvm_vcpu_events> Vcpu::GetEvents() const {
  return VcpuGet<kvm_vcpu_events>(fd_.get(), KVM_GET_VCPU_EVENTS,
                                  "KVM_GET_VCPU_EVENTS");
}
absl::Status Vcpu::SetEvents(const kvm_vcpu_events& events) {
  kvm_vcpu_events copy = events;
  return VcpuIoctl(fd_.get(), KVM_SET_VCPU_EVENTS, &copy,
                   "KVM_SET_VCPU_EVENTS");
}
absl::StatusOr<kvm_debugregs> Vcpu::GetDebugRegs() const {
  return VcpuGet<kvm_debugregs>(fd_.get(), KVM_GET_DEBUGREGS,
                                "KVM_GET_DEBUGREGS");
}
absl::Status Vcpu::SetDebugRegs(const kvm_debugregs& regs) {
  kvm_debugregs copy = regs;
  return VcpuIoctl(fd_.get(), KVM_SET_DEBUGREGS, &copy, "KVM_SET_DEBUGREGS");
}

absl::StatusOr<std::vector<MsrValue>> Vcpu::GetMsrs(
    std::span<const uint32_t> indices) const {
  size_t bytes = sizeof(kvm_msrs) + indices.size() * sizeof(kvm_msr_entry);
  auto buf = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  auto* msrs = reinterpret_cast<kvm_msrs*>(buf.get());
  std::memset(msrs, 0, bytes);
  msrs->nmsrs = static_cast<uint32_t>(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    msrs->entries[i].index = indices[i];
  }
  int n = ::ioctl(fd_.get(), KVM_GET_MSRS, msrs);
  if (n < 0) return absl::ErrnoToStatus(errno, "KVM_GET_MSRS");
  if (static_cast<size_t>(n) != indices.size()) {
    return absl::InternalError(absl::StrFormat(
        "KVM_GET_MSRS: read %d of %d MSRs; MSR 0x%x is not readable", n,
        indices.size(), indices[n]));
  }
  std::vector<MsrValue> out(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    out[i] = {msrs->entries[i].index, msrs->entries[i].data};
  }
  return out;
}

absl::Status Vcpu::SetMsrs(std::span<const MsrValue> values) {
  size_t bytes = sizeof(kvm_msrs) + values.size() * sizeof(kvm_msr_entry);
  auto buf = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  auto* msrs = reinterpret_cast<kvm_msrs*>(buf.get());
  std::memset(msrs, 0, bytes);
  msrs->nmsrs = static_cast<uint32_t>(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    msrs->entries[i].index = values[i].index;
    msrs->entries[i].data = values[i].value;
  }
  int n = ::ioctl(fd_.get(), KVM_SET_MSRS, msrs);
  if (n < 0) return absl::ErrnoToStatus(errno, "KVM_SET_MSRS");
  if (static_cast<size_t>(n) != values.size()) {
    return absl::InternalError(absl::StrFormat(
        "KVM_SET_MSRS: wrote %d of %d MSRs; MSR 0x%x was refused", n,
        values.size(), values[n].index));
  }
  return absl::OkStatus();
}

absl::Status Vcpu::SetCpuid(std::span<const kvm_cpuid_entry2> entries) {
  size_t bytes = sizeof(kvm_cpuid2) + entries.size() * sizeof(kvm_cpuid_entry2);
  auto buf = std::make_unique<uint64_t[]>((bytes + 7) / 8);
  auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.get());
  std::memset(cpuid, 0, bytes);
  cpuid->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(cpuid->entries, entries.data(),
              entries.size() * sizeof(kvm_cpuid_entry2));
  return VcpuIoctl(fd_.get(), KVM_SET_CPUID2, cpuid, "KVM_SET_CPUID2");
}

absl::StatusOr<uint64_t> Vcpu::Translate(uint64_t linear) const {
  kvm_translation tr{};
  tr.linear_address = linear;
  if (absl::Status s =
          VcpuIoctl(fd_.get(), KVM_TRANSLATE, &tr, "KVM_TRANSLATE");
      !s.ok()) {
    return s;
  }
  if (!tr.valid) {
    return absl::NotFoundError(absl::StrFormat(
        "KVM_TRANSLATE: linear address 0x%x is not mapped", linear));
  }
  return static_cast<uint64_t>(tr.physical_address);
}

absl::Status Vcpu::InjectInterrupt(uint8_t vector) {
  kvm_interrupt irq{};
  irq.irq = vector;
  if (::ioctl(fd_.get(), KVM_INTERRUPT, &irq) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("KVM_INTERRUPT(vector 0x%x)", vector));
  }
  return absl::OkStatus();
}

}  // namespace xv
