#include "kvm/kvm_cpuid.h"

namespace xv {

// KVM_CPUID_FLAG_SIGNIFCANT_INDEX is the same bit as kCpuidSubleafSignificant;
// KVM's other flags (stateful leaves) are kept as they are.
static_assert(KVM_CPUID_FLAG_SIGNIFCANT_INDEX == kCpuidSubleafSignificant);

std::vector<kvm_cpuid_entry2> ToKvmCpuid(std::span<const CpuidLeaf> leaves) {
  std::vector<kvm_cpuid_entry2> out;
  out.reserve(leaves.size());
  for (const CpuidLeaf& l : leaves) {
    kvm_cpuid_entry2 e{};
    e.function = l.function;
    e.index = l.index;
    e.flags = l.flags;
    e.eax = l.eax;
    e.ebx = l.ebx;
    e.ecx = l.ecx;
    e.edx = l.edx;
    out.push_back(e);
  }
  return out;
}

std::vector<CpuidLeaf> FromKvmCpuid(std::span<const kvm_cpuid_entry2> entries) {
  std::vector<CpuidLeaf> out;
  out.reserve(entries.size());
  for (const kvm_cpuid_entry2& e : entries) {
    out.push_back({e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx});
  }
  return out;
}

}  // namespace xv
