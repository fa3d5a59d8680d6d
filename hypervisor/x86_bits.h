// The bits of the x86 control registers, EFER and RFLAGS the project's
// backends and state code test (Intel SDM vol. 3, 2.5 and 2.2.1; vol. 1,
// 3.4.3), named once.
#ifndef EXTRAVIRT_HYPERVISOR_X86_BITS_H_
#define EXTRAVIRT_HYPERVISOR_X86_BITS_H_

#include <cstdint>

namespace xv::x86 {

inline constexpr uint64_t kCr0Pe = uint64_t{1} << 0;
inline constexpr uint64_t kCr0Pg = uint64_t{1} << 31;
inline constexpr uint64_t kCr4Pse = uint64_t{1} << 4;
inline constexpr uint64_t kCr4Pae = uint64_t{1} << 5;
inline constexpr uint64_t kCr4La57 = uint64_t{1} << 12;
inline constexpr uint64_t kEferLme = uint64_t{1} << 8;
inline constexpr uint64_t kEferLma = uint64_t{1} << 10;
inline constexpr uint64_t kRflagsTf = uint64_t{1} << 8;
inline constexpr uint64_t kRflagsIf = uint64_t{1} << 9;
inline constexpr uint64_t kRflagsDf = uint64_t{1} << 10;
inline constexpr uint64_t kRflagsNt = uint64_t{1} << 14;
inline constexpr uint64_t kRflagsRf = uint64_t{1} << 16;
inline constexpr uint64_t kRflagsVm = uint64_t{1} << 17;

}  // namespace xv::x86

#endif  // EXTRAVIRT_HYPERVISOR_X86_BITS_H_
