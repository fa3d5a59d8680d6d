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

namespace {
// General, segment and control registers in kvm_run at every exit.
constexpr uint64_t kSynced = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
}  // namespace

absl::StatusOr<Vcpu> Vcpu::Create(ScopedFd fd, ScopedMapping run) {
  Vcpu vcpu(std::move(fd), std::move(run));
  // Keep the synced copies valid from the start, so regs() and
  // synced_sregs() never show stale zeros before the first exit.
  kvm_regs regs{};
  if (absl::Status s =
          VcpuIoctl(vcpu.fd(), KVM_GET_REGS, &regs, "KVM_GET_REGS");
      !s.ok()) {
    return s;
  }
  vcpu.run()->s.regs.regs = regs;
  if (auto sregs = vcpu.GetSregs(); !sregs.ok()) return sregs.status();
  vcpu.run()->kvm_valid_regs = kSynced;
  return vcpu;
}

absl::StatusOr<bool> Vcpu::RunOnce() {
  kvm_run* r = run();
  r->kvm_valid_regs = kSynced;
  if (::ioctl(fd_.get(), KVM_RUN, 0) != 0) {
    if (errno == EINTR) return false;
    return absl::ErrnoToStatus(errno, "KVM_RUN");
  }
  return true;
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

absl::StatusOr<kvm_sregs> Vcpu::GetSregs() {
  auto sregs = VcpuGet<kvm_sregs>(fd_.get(), KVM_GET_SREGS, "KVM_GET_SREGS");
  if (sregs.ok()) run()->s.regs.sregs = *sregs;
  return sregs;
}
absl::Status Vcpu::SetSregs(const kvm_sregs& sregs) {
  kvm_sregs copy = sregs;
  if (absl::Status s =
          VcpuIoctl(fd_.get(), KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
      !s.ok()) {
    return s;
  }
  run()->s.regs.sregs = sregs;
  return absl::OkStatus();
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
