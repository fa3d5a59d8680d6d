// The one conversion between CpuidLeaf and KVM's kvm_cpuid_entry2.
#ifndef EXTRAVIRT_KVM_KVM_CPUID_H_
#define EXTRAVIRT_KVM_KVM_CPUID_H_

#include <span>
#include <vector>

#include "hypervisor/cpuid.h"
#include "kvm/kvm_uapi.h"

namespace xv {

std::vector<kvm_cpuid_entry2> ToKvmCpuid(std::span<const CpuidLeaf> leaves);
std::vector<CpuidLeaf> FromKvmCpuid(std::span<const kvm_cpuid_entry2> entries);

}  // namespace xv

#endif  // EXTRAVIRT_KVM_KVM_CPUID_H_
