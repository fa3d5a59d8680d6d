// CpuidLeaf: one CPUID leaf as the guest sees it. The one CPUID type of the
// project: machine configurations, logs and checkpoints carry these, and a
// backend converts them into what its CPU takes.
#ifndef EXTRAVIRT_HYPERVISOR_CPUID_H_
#define EXTRAVIRT_HYPERVISOR_CPUID_H_

#include <cstdint>

namespace xv {

// CpuidLeaf::flags: the leaf's output depends on the subleaf (ECX = index).
inline constexpr uint32_t kCpuidSubleafSignificant = 1;

struct CpuidLeaf {
  uint32_t function = 0;  // EAX on input
  uint32_t index = 0;     // ECX on input, where kCpuidSubleafSignificant
  uint32_t flags = 0;
  uint32_t eax = 0;
  uint32_t ebx = 0;
  uint32_t ecx = 0;
  uint32_t edx = 0;
  friend bool operator==(const CpuidLeaf&, const CpuidLeaf&) = default;
};

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_CPUID_H_
