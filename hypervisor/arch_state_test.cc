// ArchState's helpers: general registers and MSR slots by name, DR6/DR7
// normalisation, and ForEachArchField/HashArchState — which must see every
// field, under its own name, so that a state hash covers the whole state
// and verification names the one field that differs.
#include "hypervisor/arch_state.h"

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/hash128.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

struct Field {
  std::string name;
  std::vector<uint8_t> value;
};

std::vector<Field> Fields(const ArchState& state) {
  std::vector<Field> fields;
  ForEachArchField(
      state, [&](std::string_view name, std::span<const uint8_t> value) {
        fields.push_back({std::string(name),
                          std::vector<uint8_t>(value.begin(), value.end())});
      });
  return fields;
}

Hash128 Digest(const ArchState& state) {
  Hasher hasher;
  HashArchState(state, hasher);
  return hasher.Digest();
}

// The registers in kGeneralRegisterNames order, independently of
// GeneralRegister().
using RegisterMember = uint64_t GeneralRegisters::*;
const std::vector<std::pair<std::string, RegisterMember>>& GprMembers() {
  static const auto* members = new std::vector<
      std::pair<std::string, RegisterMember>>{
      {"rax", &GeneralRegisters::rax}, {"rbx", &GeneralRegisters::rbx},
      {"rcx", &GeneralRegisters::rcx}, {"rdx", &GeneralRegisters::rdx},
      {"rsi", &GeneralRegisters::rsi}, {"rdi", &GeneralRegisters::rdi},
      {"rsp", &GeneralRegisters::rsp}, {"rbp", &GeneralRegisters::rbp},
      {"r8", &GeneralRegisters::r8},   {"r9", &GeneralRegisters::r9},
      {"r10", &GeneralRegisters::r10}, {"r11", &GeneralRegisters::r11},
      {"r12", &GeneralRegisters::r12}, {"r13", &GeneralRegisters::r13},
      {"r14", &GeneralRegisters::r14}, {"r15", &GeneralRegisters::r15},
      {"rip", &GeneralRegisters::rip}, {"rflags", &GeneralRegisters::rflags},
  };
  return *members;
}

TEST(GeneralRegisterTest, FindsEveryNamedRegister) {
  ASSERT_EQ(GprMembers().size(), kGeneralRegisterNames.size());
  GeneralRegisters regs;
  for (size_t i = 0; i < GprMembers().size(); ++i) {
    regs.*GprMembers()[i].second = 0x1000 + i;
  }
  for (size_t i = 0; i < kGeneralRegisterNames.size(); ++i) {
    SCOPED_TRACE(kGeneralRegisterNames[i]);
    EXPECT_EQ(kGeneralRegisterNames[i], GprMembers()[i].first);
    uint64_t* reg = GeneralRegister(regs, kGeneralRegisterNames[i]);
    ASSERT_NE(reg, nullptr);
    EXPECT_EQ(reg, &(regs.*GprMembers()[i].second));
  }
}

TEST(GeneralRegisterTest, UnknownNamesGiveNull) {
  GeneralRegisters regs;
  for (std::string_view name :
       {"", "eax", "RAX", "r16", "rip ", "rfl", "cr3", "xmm0"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(GeneralRegister(regs, name), nullptr);
  }
}

TEST(ArchMsrTest, SlotIsThePositionInKArchMsrs) {
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    SCOPED_TRACE(kArchMsrs[i].name);
    EXPECT_EQ(ArchMsrSlot(kArchMsrs[i].index), std::optional<size_t>(i));
  }
}

TEST(ArchMsrTest, HostDependentMsrsHaveNoSlot) {
  // TSC, APIC_BASE, EFER (a field of its own), MISC_ENABLE.
  for (uint32_t index : {0x10u, 0x1bu, 0xc0000080u, 0x1a0u, 0u}) {
    SCOPED_TRACE(absl::StrFormat("0x%x", index));
    EXPECT_EQ(ArchMsrSlot(index), std::nullopt);
  }
}

TEST(ArchMsrTest, ANewStateHoldsTheResetValues) {
  const ArchState state;
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    EXPECT_EQ(state.msrs[i], kArchMsrs[i].reset_value) << kArchMsrs[i].name;
  }
  EXPECT_EQ(state.msrs[*ArchMsrSlot(0x277)], 0x0007040600070406u);
}

TEST(NormalizeDr6Test, ForcesReservedBitsAndKeepsDefinedOnes) {
  // Nothing set: the architecture's reset value with RTM's active-low bit
  // clear.
  EXPECT_EQ(NormalizeDr6(0), 0xfffe0ff0u);
  // Everything set: bit 12 and the high half read as 0.
  EXPECT_EQ(NormalizeDr6(~uint64_t{0}), 0xffffefffu);
  EXPECT_EQ(NormalizeDr6(0xffff0ff0), 0xffff0ff0u);
  // B0-B3, BD, BS, BT, RTM kept one by one.
  for (int bit : {0, 1, 2, 3, 13, 14, 15, 16}) {
    SCOPED_TRACE(bit);
    EXPECT_EQ(NormalizeDr6(uint64_t{1} << bit),
              0xfffe0ff0u | (uint64_t{1} << bit));
  }
  // A backend reporting the reserved bits otherwise changes nothing.
  EXPECT_EQ(NormalizeDr6(0xffffffff00000000 | 0x1000 | 0x4001),
            0xfffe0ff0u | 0x4001);
}

TEST(NormalizeDr7Test, ForcesReservedBitsAndKeepsDefinedOnes) {
  EXPECT_EQ(NormalizeDr7(0), 0x400u);
  EXPECT_EQ(NormalizeDr7(~uint64_t{0}), 0xffff2fffu);
  EXPECT_EQ(NormalizeDr7(0x400), 0x400u);
  // L0-G3, LE/GE, bit 11 (RTM), GD, the R/W and LEN fields kept.
  for (int bit : {0, 1, 7, 8, 9, 11, 13, 16, 23, 31}) {
    SCOPED_TRACE(bit);
    EXPECT_EQ(NormalizeDr7(uint64_t{1} << bit), 0x400u | (uint64_t{1} << bit));
  }
  // Bits 12, 14, 15 and the high half are dropped.
  EXPECT_EQ(NormalizeDr7(0xffffffff00000000 | 0x1000 | 0x4000 | 0x8000 | 0x1),
            0x401u);
}

// Every field visited, in this order: the order the hash depends on.
std::vector<std::string> ExpectedFieldNames() {
  std::vector<std::string> names(kGeneralRegisterNames.begin(),
                                 kGeneralRegisterNames.end());
  for (const char* name :
       {"cr0",       "cr2",        "cr3",       "cr4",        "cr8",
        "efer",      "xcr0",       "cs",        "ds",         "es",
        "fs",        "gs",         "ss",        "fs.base",    "gs.base",
        "gdtr.base", "gdtr.limit", "idtr.base", "idtr.limit", "ldtr",
        "ldtr.base", "ldtr.limit", "tr",        "tr.base",    "tr.limit",
        "fcw",       "fsw",        "ftw"}) {
    names.push_back(name);
  }
  for (int i = 0; i < 8; ++i) names.push_back(absl::StrFormat("st%d", i));
  names.push_back("mxcsr");
  for (int i = 0; i < 16; ++i) names.push_back(absl::StrFormat("xmm%d", i));
  for (int i = 0; i < 16; ++i) {
    names.push_back(absl::StrFormat("ymm%d.high", i));
  }
  for (int i = 0; i < 4; ++i) names.push_back(absl::StrFormat("dr%d", i));
  names.push_back("dr6");
  names.push_back("dr7");
  for (const char* msr :
       {"msr 0x174 (SYSENTER_CS)", "msr 0x175 (SYSENTER_ESP)",
        "msr 0x176 (SYSENTER_EIP)", "msr 0x277 (PAT)", "msr 0xc0000081 (STAR)",
        "msr 0xc0000082 (LSTAR)", "msr 0xc0000083 (CSTAR)",
        "msr 0xc0000084 (SFMASK)", "msr 0xc0000102 (KERNEL_GS_BASE)",
        "msr 0xc0000103 (TSC_AUX)"}) {
    names.push_back(msr);
  }
  names.push_back("queued interrupt");
  names.push_back("interrupt shadow");
  return names;
}

TEST(ForEachArchFieldTest, VisitsEveryFieldOnceInAFixedOrder) {
  std::vector<std::string> names;
  for (const Field& f : Fields(ArchState{})) names.push_back(f.name);
  EXPECT_EQ(names, ExpectedFieldNames());
  const std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
}

TEST(ForEachArchFieldTest, IntegersAreLittleEndian) {
  ArchState state;
  state.regs.rbx = 0x0102030405060708;
  state.cs = 0xabcd;
  const std::vector<Field> fields = Fields(state);
  EXPECT_EQ(fields[1].name, "rbx");
  EXPECT_EQ(fields[1].value, (std::vector<uint8_t>{8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(fields[25].name, "cs");
  EXPECT_EQ(fields[25].value,
            (std::vector<uint8_t>{0xcd, 0xab, 0, 0, 0, 0, 0, 0}));
}

// A change to one field, by the name it is visited under. Each flips the
// field's highest bit (or last byte), so a visitor that saw only part of a
// field would miss it.
using Mutation = std::pair<std::string, std::function<void(ArchState&)>>;

std::vector<Mutation> OneFieldMutations() {
  std::vector<Mutation> m;
  constexpr uint64_t kTop64 = uint64_t{1} << 63;
  for (const auto& gpr : GprMembers()) {
    auto member = gpr.second;
    m.push_back(
        {gpr.first, [member](ArchState& s) { s.regs.*member ^= kTop64; }});
  }
  m.push_back({"cr0", [](ArchState& s) { s.cr0 ^= kTop64; }});
  m.push_back({"cr2", [](ArchState& s) { s.cr2 ^= kTop64; }});
  m.push_back({"cr3", [](ArchState& s) { s.cr3 ^= kTop64; }});
  m.push_back({"cr4", [](ArchState& s) { s.cr4 ^= kTop64; }});
  m.push_back({"cr8", [](ArchState& s) { s.cr8 ^= kTop64; }});
  m.push_back({"efer", [](ArchState& s) { s.efer ^= kTop64; }});
  m.push_back({"xcr0", [](ArchState& s) { s.xcr0 ^= kTop64; }});
  m.push_back({"cs", [](ArchState& s) { s.cs ^= 0x8000; }});
  m.push_back({"ds", [](ArchState& s) { s.ds ^= 0x8000; }});
  m.push_back({"es", [](ArchState& s) { s.es ^= 0x8000; }});
  m.push_back({"fs", [](ArchState& s) { s.fs ^= 0x8000; }});
  m.push_back({"gs", [](ArchState& s) { s.gs ^= 0x8000; }});
  m.push_back({"ss", [](ArchState& s) { s.ss ^= 0x8000; }});
  m.push_back({"fs.base", [](ArchState& s) { s.fs_base ^= kTop64; }});
  m.push_back({"gs.base", [](ArchState& s) { s.gs_base ^= kTop64; }});
  m.push_back({"gdtr.base", [](ArchState& s) { s.gdtr.base ^= kTop64; }});
  m.push_back({"gdtr.limit", [](ArchState& s) { s.gdtr.limit ^= 0x8000; }});
  m.push_back({"idtr.base", [](ArchState& s) { s.idtr.base ^= kTop64; }});
  m.push_back({"idtr.limit", [](ArchState& s) { s.idtr.limit ^= 0x8000; }});
  m.push_back({"ldtr", [](ArchState& s) { s.ldtr.selector ^= 0x8000; }});
  m.push_back({"ldtr.base", [](ArchState& s) { s.ldtr.base ^= kTop64; }});
  m.push_back({"ldtr.limit", [](ArchState& s) { s.ldtr.limit ^= 0x80000000; }});
  m.push_back({"tr", [](ArchState& s) { s.tr.selector ^= 0x8000; }});
  m.push_back({"tr.base", [](ArchState& s) { s.tr.base ^= kTop64; }});
  m.push_back({"tr.limit", [](ArchState& s) { s.tr.limit ^= 0x80000000; }});
  m.push_back({"fcw", [](ArchState& s) { s.fcw ^= 0x8000; }});
  m.push_back({"fsw", [](ArchState& s) { s.fsw ^= 0x8000; }});
  m.push_back({"ftw", [](ArchState& s) { s.ftw ^= 0x80; }});
  for (size_t i = 0; i < 8; ++i) {
    m.push_back({absl::StrFormat("st%d", i),
                 [i](ArchState& s) { s.st[i].back() ^= 0x80; }});
  }
  m.push_back({"mxcsr", [](ArchState& s) { s.mxcsr ^= 0x80000000; }});
  for (size_t i = 0; i < 16; ++i) {
    m.push_back({absl::StrFormat("xmm%d", i),
                 [i](ArchState& s) { s.xmm[i].back() ^= 0x80; }});
  }
  for (size_t i = 0; i < 16; ++i) {
    m.push_back({absl::StrFormat("ymm%d.high", i),
                 [i](ArchState& s) { s.ymm_high[i].back() ^= 0x80; }});
  }
  for (size_t i = 0; i < 4; ++i) {
    m.push_back(
        {absl::StrFormat("dr%d", i), [i](ArchState& s) { s.dr[i] ^= kTop64; }});
  }
  m.push_back({"dr6", [](ArchState& s) { s.dr6 ^= kTop64; }});
  m.push_back({"dr7", [](ArchState& s) { s.dr7 ^= kTop64; }});
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    m.push_back({absl::StrFormat("msr 0x%x (%s)", kArchMsrs[i].index,
                                 kArchMsrs[i].name),
                 [i](ArchState& s) { s.msrs[i] ^= kTop64; }});
  }
  m.push_back(
      {"queued interrupt", [](ArchState& s) { s.queued_interrupt = 0xff; }});
  m.push_back(
      {"interrupt shadow", [](ArchState& s) { s.interrupt_shadow = true; }});
  return m;
}

TEST(ForEachArchFieldTest, MutationsReachEveryVisitedField) {
  // Keeps the test below honest: it changes each visited field once.
  std::vector<std::string> mutated;
  for (const Mutation& m : OneFieldMutations()) mutated.push_back(m.first);
  EXPECT_EQ(mutated, ExpectedFieldNames());
}

TEST(ForEachArchFieldTest, ChangingAFieldChangesTheHashAndOnlyThatField) {
  const ArchState base;
  const std::vector<Field> base_fields = Fields(base);
  const Hash128 base_digest = Digest(base);
  for (const auto& [name, mutate] : OneFieldMutations()) {
    SCOPED_TRACE(name);
    ArchState changed = base;
    mutate(changed);
    ASSERT_NE(changed, base);
    EXPECT_NE(Digest(changed), base_digest);
    const std::vector<Field> fields = Fields(changed);
    ASSERT_EQ(fields.size(), base_fields.size());
    std::vector<std::string> differing;
    for (size_t i = 0; i < fields.size(); ++i) {
      ASSERT_EQ(fields[i].name, base_fields[i].name);
      if (fields[i].value != base_fields[i].value) {
        differing.push_back(fields[i].name);
      }
    }
    EXPECT_EQ(differing, std::vector<std::string>{name});
  }
}

TEST(HashArchStateTest, EqualStatesHashEqual) {
  EXPECT_EQ(Digest(ArchState{}), Digest(ArchState{}));
  ArchState a;
  a.regs.rip = 0xfff0;
  a.cr3 = 0x1000;
  a.xmm[7][3] = 0x42;
  a.msrs[4] = 0x0023001000000000;
  a.queued_interrupt = 0x20;
  const ArchState b = a;
  EXPECT_EQ(Digest(a), Digest(b));
  EXPECT_NE(Digest(a), Digest(ArchState{}));
}

TEST(HashArchStateTest, NoQueuedInterruptDiffersFromVectorZero) {
  ArchState none;
  ArchState zero;
  zero.queued_interrupt = 0;
  EXPECT_NE(Digest(none), Digest(zero));
  const std::vector<Field> a = Fields(none);
  const std::vector<Field> b = Fields(zero);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(a[a.size() - 2].name, "queued interrupt");
  EXPECT_NE(a[a.size() - 2].value, b[b.size() - 2].value);
}

}  // namespace
}  // namespace xv
