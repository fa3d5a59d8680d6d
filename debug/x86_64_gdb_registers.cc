#include "debug/x86_64_gdb_registers.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "debug/gdb_packet.h"
#include "hypervisor/arch_state.h"

namespace xv {
namespace {

static_assert(kGdbRegisters[kGdbRip].name == "rip");
static_assert(kGdbRegisters[kGdbEflags].name == "eflags");
static_assert(kGdbRegisters[kGdbCs].name == "cs");
static_assert(kGdbRegisters[kGdbSt0].name == "st0");
static_assert(kGdbRegisters[kGdbFctrl].name == "fctrl");
static_assert(kGdbRegisters[kGdbXmm0].name == "xmm0");
static_assert(kGdbRegisters[kGdbMxcsr].name == "mxcsr");
static_assert(kGdbRegisters[kGdbFsBase].name == "fs_base");
static_assert(kGdbRegisters[kGdbGsBase].name == "gs_base");
static_assert(kGdbRegisters[kGdbCr0].name == "cr0");
static_assert(kGdbRegisters.back().name == "efer");

constexpr int kFstat = kGdbFctrl + 1;
constexpr int kFtag = kGdbFctrl + 2;
constexpr int kFop = kGdbFctrl + 7;

// gdb numbers rbp before rsp; ArchState keeps the architecture's encoding
// order. Both are named here once.
constexpr std::array<uint64_t GeneralRegisters::*, kGdbRip + 1>
    kGdbGeneralMembers = {
        &GeneralRegisters::rax, &GeneralRegisters::rbx, &GeneralRegisters::rcx,
        &GeneralRegisters::rdx, &GeneralRegisters::rsi, &GeneralRegisters::rdi,
        &GeneralRegisters::rbp, &GeneralRegisters::rsp, &GeneralRegisters::r8,
        &GeneralRegisters::r9,  &GeneralRegisters::r10, &GeneralRegisters::r11,
        &GeneralRegisters::r12, &GeneralRegisters::r13, &GeneralRegisters::r14,
        &GeneralRegisters::r15, &GeneralRegisters::rip};

constexpr std::array<uint16_t ArchState::*, 6> kSelectors = {
    &ArchState::cs, &ArchState::ss, &ArchState::ds,
    &ArchState::es, &ArchState::fs, &ArchState::gs};

constexpr std::array<uint64_t ArchState::*, 6> kSystemRegisters = {
    &ArchState::cr0, &ArchState::cr2, &ArchState::cr3,
    &ArchState::cr4, &ArchState::cr8, &ArchState::efer};

constexpr uint64_t kRflagsFixedOne = 0x2;
constexpr uint64_t kMxcsrReserved = 0xffff0000;

// A flags type: named bits and bit ranges of a register.
struct FlagField {
  std::string_view name;
  int start;
  int end;
};
struct FlagsType {
  GdbFeature feature;
  std::string_view id;
  int size;  // bytes
  std::vector<FlagField> fields;
};

// Named bits, so that `info registers` reads like the SDM (vol. 1, 3.4.3
// and 10.2.3; vol. 3, 2.2.1 and 2.5). The manual lists i386_eflags and
// i386_mxcsr as predefined, but gdb 13 refuses them undefined in a remote
// description, so they are defined here under those names too.
std::vector<FlagsType> FlagsTypes() {
  return {
      {GdbFeature::kCore,
       "i386_eflags",
       4,
       {{"CF", 0, 0},
        {"PF", 2, 2},
        {"AF", 4, 4},
        {"ZF", 6, 6},
        {"SF", 7, 7},
        {"TF", 8, 8},
        {"IF", 9, 9},
        {"DF", 10, 10},
        {"OF", 11, 11},
        {"IOPL", 12, 13},
        {"NT", 14, 14},
        {"RF", 16, 16},
        {"VM", 17, 17},
        {"AC", 18, 18},
        {"VIF", 19, 19},
        {"VIP", 20, 20},
        {"ID", 21, 21}}},
      {GdbFeature::kSse,
       "i386_mxcsr",
       4,
       {{"IE", 0, 0},
        {"DE", 1, 1},
        {"ZE", 2, 2},
        {"OE", 3, 3},
        {"UE", 4, 4},
        {"PE", 5, 5},
        {"DAZ", 6, 6},
        {"IM", 7, 7},
        {"DM", 8, 8},
        {"ZM", 9, 9},
        {"OM", 10, 10},
        {"UM", 11, 11},
        {"PM", 12, 12},
        {"RC", 13, 14},
        {"FZ", 15, 15}}},
      {GdbFeature::kSystem,
       "xv_cr0",
       8,
       {{"PE", 0, 0},
        {"MP", 1, 1},
        {"EM", 2, 2},
        {"TS", 3, 3},
        {"ET", 4, 4},
        {"NE", 5, 5},
        {"WP", 16, 16},
        {"AM", 18, 18},
        {"NW", 29, 29},
        {"CD", 30, 30},
        {"PG", 31, 31}}},
      {GdbFeature::kSystem,
       "xv_cr4",
       8,
       {{"VME", 0, 0},        {"PVI", 1, 1},          {"TSD", 2, 2},
        {"DE", 3, 3},         {"PSE", 4, 4},          {"PAE", 5, 5},
        {"MCE", 6, 6},        {"PGE", 7, 7},          {"PCE", 8, 8},
        {"OSFXSR", 9, 9},     {"OSXMMEXCPT", 10, 10}, {"UMIP", 11, 11},
        {"LA57", 12, 12},     {"VMXE", 13, 13},       {"SMXE", 14, 14},
        {"FSGSBASE", 16, 16}, {"PCIDE", 17, 17},      {"OSXSAVE", 18, 18},
        {"SMEP", 20, 20},     {"SMAP", 21, 21},       {"PKE", 22, 22},
        {"CET", 23, 23},      {"PKS", 24, 24}}},
      {GdbFeature::kSystem,
       "xv_efer",
       8,
       {{"SCE", 0, 0},
        {"LME", 8, 8},
        {"LMA", 10, 10},
        {"NXE", 11, 11},
        {"SVME", 12, 12},
        {"LMSLE", 13, 13},
        {"FFXSR", 14, 14},
        {"TCE", 15, 15}}},
  };
}

std::string FeatureName(GdbFeature feature) {
  switch (feature) {
    case GdbFeature::kCore:
      return "org.gnu.gdb.i386.core";
    case GdbFeature::kSse:
      return "org.gnu.gdb.i386.sse";
    case GdbFeature::kSegments:
      return "org.gnu.gdb.i386.segments";
    case GdbFeature::kSystem:
      return "org.extravirt.x86.system";
  }
  return "";
}

// Types gdb does not predefine, declared in the feature that uses them
// (gdb looks a register's type up in its own feature), before its
// registers.
std::string FeatureTypes(GdbFeature feature) {
  std::string xml;
  if (feature == GdbFeature::kSse) {
    struct Lane {
      std::string_view field, vector_id, element;
      int count;
    };
    const Lane lanes[] = {
        {"v4_float", "xv_v4f", "ieee_single", 4},
        {"v2_double", "xv_v2d", "ieee_double", 2},
        {"v16_int8", "xv_v16i8", "int8", 16},
        {"v8_int16", "xv_v8i16", "int16", 8},
        {"v4_int32", "xv_v4i32", "int32", 4},
        {"v2_int64", "xv_v2i64", "int64", 2},
    };
    for (const Lane& lane : lanes) {
      xml +=
          absl::StrFormat("    <vector id=\"%s\" type=\"%s\" count=\"%d\"/>\n",
                          lane.vector_id, lane.element, lane.count);
    }
    xml += "    <union id=\"vec128\">\n";
    for (const Lane& lane : lanes) {
      xml += absl::StrFormat("      <field name=\"%s\" type=\"%s\"/>\n",
                             lane.field, lane.vector_id);
    }
    xml += "      <field name=\"uint128\" type=\"uint128\"/>\n";
    xml += "    </union>\n";
  }
  for (const FlagsType& type : FlagsTypes()) {
    if (type.feature != feature) continue;
    xml += absl::StrFormat("    <flags id=\"%s\" size=\"%d\">\n", type.id,
                           type.size);
    for (const FlagField& field : type.fields) {
      xml += absl::StrFormat(
          "      <field name=\"%s\" start=\"%d\" end=\"%d\"/>\n", field.name,
          field.start, field.end);
    }
    xml += "    </flags>\n";
  }
  return xml;
}

void PutLittleEndian(uint64_t value, int size, uint8_t* out) {
  for (int i = 0; i < size; ++i)
    out[i] = static_cast<uint8_t>(value >> (8 * i));
}

uint64_t GetLittleEndian(const uint8_t* in, int size) {
  uint64_t value = 0;
  for (int i = 0; i < size; ++i) value |= uint64_t{in[i]} << (8 * i);
  return value;
}

// Abridged (1 bit per register: not empty) -> gdb's full tag word (2 bits:
// 0b11 empty, 0b00 valid; zero and special are not told apart).
uint16_t FullTagWord(uint8_t abridged) {
  uint16_t full = 0;
  for (int i = 0; i < 8; ++i) {
    if ((abridged & (1u << i)) == 0)
      full |= static_cast<uint16_t>(3u << (2 * i));
  }
  return full;
}

uint8_t AbridgedTagWord(uint16_t full) {
  uint8_t abridged = 0;
  for (int i = 0; i < 8; ++i) {
    if (((full >> (2 * i)) & 3u) != 3u)
      abridged |= static_cast<uint8_t>(1u << i);
  }
  return abridged;
}

// Register `regnum`'s bytes (its table size of them). regnum is valid.
std::array<uint8_t, 16> Read(const ArchState& s, int regnum) {
  std::array<uint8_t, 16> bytes{};
  const int size = kGdbRegisters[regnum].size;
  auto put = [&](uint64_t value) {
    PutLittleEndian(value, size, bytes.data());
  };
  if (regnum <= kGdbRip) {
    put(s.regs.*kGdbGeneralMembers[regnum]);
  } else if (regnum == kGdbEflags) {
    put(s.regs.rflags);
  } else if (regnum < kGdbSt0) {
    put(s.*kSelectors[regnum - kGdbCs]);
  } else if (regnum < kGdbFctrl) {
    const Float80& st = s.st[regnum - kGdbSt0];
    std::copy(st.begin(), st.end(), bytes.begin());
  } else if (regnum == kGdbFctrl) {
    put(s.fcw);
  } else if (regnum == kFstat) {
    put(s.fsw);
  } else if (regnum == kFtag) {
    put(FullTagWord(s.ftw));
  } else if (regnum <= kFop) {
    put(0);
  } else if (regnum < kGdbMxcsr) {
    bytes = s.xmm[regnum - kGdbXmm0];
  } else if (regnum == kGdbMxcsr) {
    put(s.mxcsr);
  } else if (regnum == kGdbFsBase) {
    put(s.fs_base);
  } else if (regnum == kGdbGsBase) {
    put(s.gs_base);
  } else {
    put(s.*kSystemRegisters[regnum - kGdbCr0]);
  }
  return bytes;
}

// Why register `regnum` cannot be written, or "" if it can.
std::string_view ReadOnlyReason(int regnum) {
  if (regnum >= kGdbCs && regnum < kGdbSt0) {
    return "a selector changes with its descriptor, which the stub does not "
           "load";
  }
  if (regnum > kFtag && regnum <= kFop) {
    return "the x87 last-instruction and operand pointers are not kept in the "
           "architectural state";
  }
  if (regnum >= kGdbCr0) {
    return "control registers and EFER change the paging and operating mode "
           "under the backend";
  }
  return "";
}

// Writes `bytes` (the register's size) into a writable register.
absl::Status Write(ArchState& s, int regnum,
                   const std::vector<uint8_t>& bytes) {
  const int size = kGdbRegisters[regnum].size;
  const uint64_t value = size <= 8 ? GetLittleEndian(bytes.data(), size) : 0;
  if (regnum <= kGdbRip) {
    s.regs.*kGdbGeneralMembers[regnum] = value;
  } else if (regnum == kGdbEflags) {
    // gdb shows 32 bits; the upper half of RFLAGS is reserved (zero), and
    // bit 1 always reads as 1 on x86, so a state without it could not be
    // entered.
    s.regs.rflags = value | kRflagsFixedOne;
  } else if (regnum >= kGdbSt0 && regnum < kGdbFctrl) {
    std::copy(bytes.begin(), bytes.end(), s.st[regnum - kGdbSt0].begin());
  } else if (regnum == kGdbFctrl) {
    s.fcw = static_cast<uint16_t>(value);
  } else if (regnum == kFstat) {
    s.fsw = static_cast<uint16_t>(value);
  } else if (regnum == kFtag) {
    s.ftw = AbridgedTagWord(static_cast<uint16_t>(value));
  } else if (regnum >= kGdbXmm0 && regnum < kGdbMxcsr) {
    std::copy(bytes.begin(), bytes.end(), s.xmm[regnum - kGdbXmm0].begin());
  } else if (regnum == kGdbMxcsr) {
    // A reserved bit set makes the restore (FXRSTOR/XRSTOR) fault.
    if ((value & kMxcsrReserved) != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("mxcsr value 0x%x sets reserved bits 16-31", value));
    }
    s.mxcsr = static_cast<uint32_t>(value);
  } else if (regnum == kGdbFsBase) {
    s.fs_base = value;
  } else if (regnum == kGdbGsBase) {
    s.gs_base = value;
  }
  return absl::OkStatus();
}

absl::Status CheckRegnum(int regnum) {
  if (regnum < 0 || regnum >= kGdbRegisterCount) {
    return absl::InvalidArgumentError(
        absl::StrFormat("no x86-64 register number %d (there are %d)", regnum,
                        kGdbRegisterCount));
  }
  return absl::OkStatus();
}

}  // namespace

std::string X86_64TargetXml() {
  std::string xml =
      "<?xml version=\"1.0\"?>\n"
      "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
      "<target version=\"1.0\">\n"
      "  <architecture>i386:x86-64</architecture>\n";
  for (int regnum = 0; regnum < kGdbRegisterCount; ++regnum) {
    const GdbRegisterInfo& r = kGdbRegisters[regnum];
    if (regnum == 0 || kGdbRegisters[regnum - 1].feature != r.feature) {
      if (regnum != 0) xml += "  </feature>\n";
      xml +=
          absl::StrFormat("  <feature name=\"%s\">\n", FeatureName(r.feature));
      xml += FeatureTypes(r.feature);
    }
    xml += absl::StrFormat(
        "    <reg name=\"%s\" bitsize=\"%d\" type=\"%s\" regnum=\"%d\"%s/>\n",
        r.name, 8 * r.size, r.type, regnum,
        r.feature == GdbFeature::kSystem ? " group=\"system\"" : "");
  }
  xml += "  </feature>\n</target>\n";
  return xml;
}

std::string EncodeRegisters(const ArchState& state) {
  std::string hex;
  hex.reserve(2 * static_cast<size_t>(kGdbRegistersSize));
  for (int regnum = 0; regnum < kGdbRegisterCount; ++regnum) {
    const std::array<uint8_t, 16> bytes = Read(state, regnum);
    hex += BytesToHex(
        std::span<const uint8_t>(bytes.data(), kGdbRegisters[regnum].size));
  }
  return hex;
}

absl::StatusOr<std::string> EncodeRegister(const ArchState& state, int regnum) {
  if (absl::Status s = CheckRegnum(regnum); !s.ok()) return s;
  const std::array<uint8_t, 16> bytes = Read(state, regnum);
  return BytesToHex(
      std::span<const uint8_t>(bytes.data(), kGdbRegisters[regnum].size));
}

absl::Status SetRegister(ArchState& state, int regnum, std::string_view hex) {
  if (absl::Status s = CheckRegnum(regnum); !s.ok()) return s;
  const GdbRegisterInfo& r = kGdbRegisters[regnum];
  if (hex.size() != 2 * static_cast<size_t>(r.size)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("register %s is %d bytes, the value has %d hex digits",
                        r.name, r.size, hex.size()));
  }
  absl::StatusOr<std::vector<uint8_t>> bytes = HexToBytes(hex);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("value for register %s: %s", r.name,
                        std::string(bytes.status().message())));
  }
  if (const std::string_view why = ReadOnlyReason(regnum); !why.empty()) {
    const std::array<uint8_t, 16> current = Read(state, regnum);
    if (!std::equal(bytes->begin(), bytes->end(), current.begin())) {
      return absl::FailedPreconditionError(
          absl::StrFormat("register %s is read-only: %s", r.name, why));
    }
    return absl::OkStatus();
  }
  return Write(state, regnum, *bytes);
}

absl::Status SetRegisters(ArchState& state, std::string_view hex) {
  if (hex.size() != 2 * static_cast<size_t>(kGdbRegistersSize)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("register block has %d hex digits, expected %d",
                        hex.size(), 2 * kGdbRegistersSize));
  }
  ArchState updated = state;
  size_t offset = 0;
  for (int regnum = 0; regnum < kGdbRegisterCount; ++regnum) {
    const size_t digits = 2 * static_cast<size_t>(kGdbRegisters[regnum].size);
    if (absl::Status s =
            SetRegister(updated, regnum, hex.substr(offset, digits));
        !s.ok()) {
      return s;
    }
    offset += digits;
  }
  state = updated;
  return absl::OkStatus();
}

}  // namespace xv
