#include "kvm/kvm_hypervisor.h"

#include "kvm/kvm_cpu.h"
#include "kvm/kvm_cpuid.h"

namespace xv {

absl::StatusOr<std::unique_ptr<KvmHypervisor>> KvmHypervisor::Open(
    const std::string& path) {
  auto kvm = KvmSystem::Open(path);
  if (!kvm.ok()) return kvm.status();
  return std::make_unique<KvmHypervisor>(std::move(*kvm));
}

absl::StatusOr<std::vector<CpuidLeaf>> KvmHypervisor::DefaultCpuid() const {
  auto supported = kvm_.SupportedCpuid();
  if (!supported.ok()) return supported.status();
  return FromKvmCpuid(*supported);
}

absl::StatusOr<std::unique_ptr<GuestCpu>> KvmHypervisor::CreateCpu(
    GuestMemory& memory, std::span<const CpuidLeaf> cpuid) const {
  auto cpu = KvmCpu::Create(kvm_, memory, cpuid);
  if (!cpu.ok()) return cpu.status();
  return std::unique_ptr<GuestCpu>(std::move(*cpu));
}

}  // namespace xv
