// KvmHypervisor: the KVM backend (an open /dev/kvm) as a Hypervisor.
#ifndef EXTRAVIRT_KVM_KVM_HYPERVISOR_H_
#define EXTRAVIRT_KVM_KVM_HYPERVISOR_H_

#include <memory>
#include <string>

#include "hypervisor/guest_cpu.h"
#include "kvm/kvm_system.h"

namespace xv {

class KvmHypervisor : public Hypervisor {
 public:
  // Opens `path` (default: $XVIRT_KVM_DEVICE or /dev/kvm); the error says
  // why KVM is unusable and what to do about it.
  static absl::StatusOr<std::unique_ptr<KvmHypervisor>> Open(
      const std::string& path = DefaultKvmDevicePath());
  explicit KvmHypervisor(KvmSystem kvm) : kvm_(std::move(kvm)) {}

  std::string_view name() const override { return "kvm"; }
  absl::StatusOr<std::vector<CpuidLeaf>> DefaultCpuid() const override;
  absl::StatusOr<std::unique_ptr<GuestCpu>> CreateCpu(
      GuestMemory& memory, std::span<const CpuidLeaf> cpuid) const override;

  const KvmSystem& system() const { return kvm_; }

 private:
  KvmSystem kvm_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_KVM_HYPERVISOR_H_
