#include "hypervisor/arch_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

template <typename T>
std::span<const uint8_t> BytesOf(const T& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

}  // namespace

uint64_t* GeneralRegister(GeneralRegisters& r, std::string_view name) {
  for (size_t i = 0; i < kGeneralRegisterNames.size(); ++i) {
    if (kGeneralRegisterNames[i] == name)
      return &(r.*kGeneralRegisterMembers[i]);
  }
  return nullptr;
}

std::optional<size_t> ArchMsrSlot(uint32_t index) {
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    if (kArchMsrs[i].index == index) return i;
  }
  return std::nullopt;
}

uint64_t NormalizeDr6(uint64_t dr6) {
  // B0-B3, BD, BS, BT and RTM (bit 16, active low) are state; bits 4-11
  // and 17-31 read as 1, bit 12 and the high 32 as 0 (bit 11, bus-lock
  // detection, is taken as its "none" value 1 so that hosts agree).
  constexpr uint64_t kDefined = 0x1e00f;
  constexpr uint64_t kFixedOnes = 0xfffe0ff0;
  return (dr6 & kDefined) | kFixedOnes;
}

uint64_t NormalizeDr7(uint64_t dr7) {
  // Bit 10 reads as 1; bits 12, 14, 15 and the high 32 as 0.
  constexpr uint64_t kDefined = 0xffff2bff;
  return (dr7 & kDefined) | 0x400;
}

void ForEachArchField(const ArchState& s, const ArchFieldVisitor& visit) {
  auto u64 = [&](std::string_view name, uint64_t v) {
    visit(name, BytesOf(v));
  };
  for (size_t i = 0; i < kGeneralRegisterNames.size(); ++i) {
    u64(kGeneralRegisterNames[i], s.regs.*kGeneralRegisterMembers[i]);
  }
  const std::pair<const char*, uint64_t> control[] = {
      {"cr0", s.cr0}, {"cr2", s.cr2},   {"cr3", s.cr3},  {"cr4", s.cr4},
      {"cr8", s.cr8}, {"efer", s.efer}, {"xcr0", s.xcr0}};
  for (const auto& [name, v] : control) u64(name, v);
  const std::pair<const char*, uint16_t> selectors[] = {
      {"cs", s.cs}, {"ds", s.ds}, {"es", s.es},
      {"fs", s.fs}, {"gs", s.gs}, {"ss", s.ss}};
  for (const auto& [name, v] : selectors) u64(name, v);
  u64("fs.base", s.fs_base);
  u64("gs.base", s.gs_base);
  u64("gdtr.base", s.gdtr.base);
  u64("gdtr.limit", s.gdtr.limit);
  u64("idtr.base", s.idtr.base);
  u64("idtr.limit", s.idtr.limit);
  for (const auto& [name, seg] :
       {std::pair<std::string, const SystemSegment*>{"ldtr", &s.ldtr},
        {"tr", &s.tr}}) {
    u64(name, seg->selector);
    u64(name + ".base", seg->base);
    u64(name + ".limit", seg->limit);
  }
  u64("fcw", s.fcw);
  u64("fsw", s.fsw);
  u64("ftw", s.ftw);
  for (size_t i = 0; i < s.st.size(); ++i) {
    visit(absl::StrFormat("st%d", i), s.st[i]);
  }
  u64("mxcsr", s.mxcsr);
  for (size_t i = 0; i < s.xmm.size(); ++i) {
    visit(absl::StrFormat("xmm%d", i), s.xmm[i]);
  }
  for (size_t i = 0; i < s.ymm_high.size(); ++i) {
    visit(absl::StrFormat("ymm%d.high", i), s.ymm_high[i]);
  }
  for (size_t i = 0; i < s.dr.size(); ++i) {
    u64(absl::StrFormat("dr%d", i), s.dr[i]);
  }
  u64("dr6", s.dr6);
  u64("dr7", s.dr7);
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    u64(absl::StrFormat("msr 0x%x (%s)", kArchMsrs[i].index, kArchMsrs[i].name),
        s.msrs[i]);
  }
  u64("queued interrupt",
      s.queued_interrupt ? 0x100 | uint64_t{*s.queued_interrupt} : 0);
  u64("interrupt shadow", s.interrupt_shadow ? 1 : 0);
}

void HashArchState(const ArchState& state, Hasher& h) {
  ForEachArchField(state,
                   [&](std::string_view name, std::span<const uint8_t> value) {
                     h.UpdateU64(name.size());
                     h.Update(name);
                     h.UpdateU64(value.size());
                     h.Update(value);
                   });
}

void ForEachArchFieldDifference(const ArchState& a, const ArchState& b,
                                const ArchFieldDifferenceVisitor& visit) {
  // Both states have the same fields in the same order: keep a's values,
  // compare b's against them one by one.
  std::vector<std::vector<uint8_t>> values_of_a;
  ForEachArchField(a, [&](std::string_view, std::span<const uint8_t> v) {
    values_of_a.emplace_back(v.begin(), v.end());
  });
  size_t i = 0;
  ForEachArchField(b, [&](std::string_view name, std::span<const uint8_t> v) {
    const std::vector<uint8_t>& va = values_of_a[i++];
    if (!std::equal(v.begin(), v.end(), va.begin(), va.end())) {
      visit(name, va, v);
    }
  });
}

std::string FirstArchFieldDifference(const ArchState& a, const ArchState& b) {
  std::string first;
  ForEachArchFieldDifference(
      a, b,
      [&](std::string_view name, std::span<const uint8_t>,
          std::span<const uint8_t>) {
        if (first.empty()) first = std::string(name);
      });
  return first.empty() ? "(none)" : first;
}

}  // namespace xv
