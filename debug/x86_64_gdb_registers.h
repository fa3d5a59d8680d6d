// The registers an x86-64 guest shows gdb: the target description gdb reads
// (qXfer:features:read:target.xml), whose explicit register numbers fix the
// layout of `g` and the numbers of `p`/`P`, and the conversion between
// those packets and ArchState.
#ifndef EXTRAVIRT_DEBUG_X86_64_GDB_REGISTERS_H_
#define EXTRAVIRT_DEBUG_X86_64_GDB_REGISTERS_H_

#include <array>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"

namespace xv {

// The target description's features, in the order they appear.
enum class GdbFeature {
  kCore,      // org.gnu.gdb.i386.core
  kSse,       // org.gnu.gdb.i386.sse
  kSegments,  // org.gnu.gdb.i386.segments
  kSystem,    // org.extravirt.x86.system: control registers and EFER
};

struct GdbRegisterInfo {
  std::string_view name;
  int size;               // bytes in `g` and `p`
  std::string_view type;  // the target description's type
  GdbFeature feature;
};

// The first register number of each group; the table below is the truth.
enum GdbRegnum : int {
  kGdbRax = 0,  // rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (gdb's order)
  kGdbRip = 16,
  kGdbEflags = 17,
  kGdbCs = 18,  // cs ss ds es fs gs
  kGdbSt0 = 24,
  kGdbFctrl = 32,  // fctrl fstat ftag fiseg fioff foseg fooff fop
  kGdbXmm0 = 40,
  kGdbMxcsr = 56,
  kGdbFsBase = 57,
  kGdbGsBase = 58,
  kGdbCr0 = 59,  // cr0 cr2 cr3 cr4 cr8 efer
};

inline constexpr int kGdbRegisterCount = 65;

// By register number: `g` is every register in this order, each `size`
// bytes little-endian.
inline constexpr std::array<GdbRegisterInfo, kGdbRegisterCount> kGdbRegisters =
    {{
        {"rax", 8, "int64", GdbFeature::kCore},
        {"rbx", 8, "int64", GdbFeature::kCore},
        {"rcx", 8, "int64", GdbFeature::kCore},
        {"rdx", 8, "int64", GdbFeature::kCore},
        {"rsi", 8, "int64", GdbFeature::kCore},
        {"rdi", 8, "int64", GdbFeature::kCore},
        {"rbp", 8, "data_ptr", GdbFeature::kCore},
        {"rsp", 8, "data_ptr", GdbFeature::kCore},
        {"r8", 8, "int64", GdbFeature::kCore},
        {"r9", 8, "int64", GdbFeature::kCore},
        {"r10", 8, "int64", GdbFeature::kCore},
        {"r11", 8, "int64", GdbFeature::kCore},
        {"r12", 8, "int64", GdbFeature::kCore},
        {"r13", 8, "int64", GdbFeature::kCore},
        {"r14", 8, "int64", GdbFeature::kCore},
        {"r15", 8, "int64", GdbFeature::kCore},
        {"rip", 8, "code_ptr", GdbFeature::kCore},
        {"eflags", 4, "i386_eflags", GdbFeature::kCore},
        {"cs", 4, "int32", GdbFeature::kCore},
        {"ss", 4, "int32", GdbFeature::kCore},
        {"ds", 4, "int32", GdbFeature::kCore},
        {"es", 4, "int32", GdbFeature::kCore},
        {"fs", 4, "int32", GdbFeature::kCore},
        {"gs", 4, "int32", GdbFeature::kCore},
        {"st0", 10, "i387_ext", GdbFeature::kCore},
        {"st1", 10, "i387_ext", GdbFeature::kCore},
        {"st2", 10, "i387_ext", GdbFeature::kCore},
        {"st3", 10, "i387_ext", GdbFeature::kCore},
        {"st4", 10, "i387_ext", GdbFeature::kCore},
        {"st5", 10, "i387_ext", GdbFeature::kCore},
        {"st6", 10, "i387_ext", GdbFeature::kCore},
        {"st7", 10, "i387_ext", GdbFeature::kCore},
        {"fctrl", 4, "int", GdbFeature::kCore},
        {"fstat", 4, "int", GdbFeature::kCore},
        {"ftag", 4, "int", GdbFeature::kCore},
        {"fiseg", 4, "int", GdbFeature::kCore},
        {"fioff", 4, "int", GdbFeature::kCore},
        {"foseg", 4, "int", GdbFeature::kCore},
        {"fooff", 4, "int", GdbFeature::kCore},
        {"fop", 4, "int", GdbFeature::kCore},
        {"xmm0", 16, "vec128", GdbFeature::kSse},
        {"xmm1", 16, "vec128", GdbFeature::kSse},
        {"xmm2", 16, "vec128", GdbFeature::kSse},
        {"xmm3", 16, "vec128", GdbFeature::kSse},
        {"xmm4", 16, "vec128", GdbFeature::kSse},
        {"xmm5", 16, "vec128", GdbFeature::kSse},
        {"xmm6", 16, "vec128", GdbFeature::kSse},
        {"xmm7", 16, "vec128", GdbFeature::kSse},
        {"xmm8", 16, "vec128", GdbFeature::kSse},
        {"xmm9", 16, "vec128", GdbFeature::kSse},
        {"xmm10", 16, "vec128", GdbFeature::kSse},
        {"xmm11", 16, "vec128", GdbFeature::kSse},
        {"xmm12", 16, "vec128", GdbFeature::kSse},
        {"xmm13", 16, "vec128", GdbFeature::kSse},
        {"xmm14", 16, "vec128", GdbFeature::kSse},
        {"xmm15", 16, "vec128", GdbFeature::kSse},
        {"mxcsr", 4, "i386_mxcsr", GdbFeature::kSse},
        {"fs_base", 8, "int", GdbFeature::kSegments},
        {"gs_base", 8, "int", GdbFeature::kSegments},
        {"cr0", 8, "xv_cr0", GdbFeature::kSystem},
        {"cr2", 8, "data_ptr", GdbFeature::kSystem},
        {"cr3", 8, "int64", GdbFeature::kSystem},
        {"cr4", 8, "xv_cr4", GdbFeature::kSystem},
        {"cr8", 8, "int64", GdbFeature::kSystem},
        {"efer", 8, "xv_efer", GdbFeature::kSystem},
    }};

// The `g` reply size in bytes (twice that in hex digits).
inline constexpr int kGdbRegistersSize = [] {
  int total = 0;
  for (const GdbRegisterInfo& r : kGdbRegisters) total += r.size;
  return total;
}();

// The target description (architecture i386:x86-64), made from the table.
std::string X86_64TargetXml();

// The `g` reply. The x87 tag word gdb shows is the full one (2 bits per
// register) while ArchState keeps the abridged one (1 bit: empty or not),
// so a non-empty register shows as valid (0b00) whatever it holds (zero,
// special). fiseg/fioff/foseg/fooff/fop are not architectural state here
// (see arch_state.h) and read as 0.
std::string EncodeRegisters(const ArchState& state);

// The `p` reply for one register.
absl::StatusOr<std::string> EncodeRegister(const ArchState& state, int regnum);

// `P`: `hex` is the register's full size, little-endian. Writable: the
// general registers, rip, eflags, st0-7, fctrl, fstat, ftag, xmm0-15, mxcsr,
// fs_base and gs_base. The others are read-only (absl::FailedPreconditionError
// naming the register) unless written with the value they have, so that gdb
// restoring registers after an inferior call does not fail.
absl::Status SetRegister(ArchState& state, int regnum, std::string_view hex);

// `G`: every register, as in `g`; all or nothing.
absl::Status SetRegisters(ArchState& state, std::string_view hex);

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_X86_64_GDB_REGISTERS_H_
