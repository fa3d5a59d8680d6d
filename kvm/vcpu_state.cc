#include "kvm/vcpu_state.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

constexpr uint32_t kCandidateMsrs[] = {
    0x174,       // IA32_SYSENTER_CS
    0x175,       // IA32_SYSENTER_ESP
    0x176,       // IA32_SYSENTER_EIP
    0x277,       // IA32_PAT
    0xc0000081,  // STAR
    0xc0000082,  // LSTAR
    0xc0000083,  // CSTAR
    0xc0000084,  // SYSCALL_MASK
    0xc0000102,  // KERNEL_GS_BASE
    0xc0000103,  // TSC_AUX
};

uint64_t PackSegmentAttributes(const kvm_segment& s) {
  return static_cast<uint64_t>(s.type) | uint64_t{s.present} << 8 |
         uint64_t{s.dpl} << 16 | uint64_t{s.db} << 24 | uint64_t{s.s} << 32 |
         uint64_t{s.l} << 40 | uint64_t{s.g} << 48 | uint64_t{s.avl} << 56 |
         uint64_t{s.unusable} << 60;
}

std::span<const uint8_t> Bytes(const uint64_t& v) {
  return {reinterpret_cast<const uint8_t*>(&v), sizeof v};
}

// XSAVE standard-format layout (SDM vol. 1, 13.4).
constexpr size_t kX87RegistersOffset = 32;
constexpr size_t kXmmRegistersOffset = 160;
constexpr size_t kYmmHighOffset = 576;

}  // namespace

absl::StatusOr<std::vector<uint32_t>> DeterministicMsrIndices(
    const KvmSystem& kvm) {
  auto supported = kvm.MsrIndexList();
  if (!supported.ok()) return supported.status();
  std::vector<uint32_t> out;
  for (uint32_t msr : kCandidateMsrs) {
    if (std::find(supported->begin(), supported->end(), msr) !=
        supported->end()) {
      out.push_back(msr);
    }
  }
  return out;
}

absl::StatusOr<VcpuState> CaptureVcpuState(
    const Vcpu& vcpu, std::span<const uint32_t> msr_indices) {
  VcpuState st;
  st.regs = vcpu.regs();
  auto sregs = vcpu.GetSregs();
  if (!sregs.ok()) return sregs.status();
  st.sregs = *sregs;
  auto xsave = vcpu.GetXsave();
  if (!xsave.ok()) return xsave.status();
  st.xsave = *xsave;
  auto xcrs = vcpu.GetXcrs();
  if (!xcrs.ok()) return xcrs.status();
  st.xcrs = *xcrs;
  auto events = vcpu.GetEvents();
  if (!events.ok()) return events.status();
  st.events = *events;
  auto dregs = vcpu.GetDebugRegs();
  if (!dregs.ok()) return dregs.status();
  st.debugregs = *dregs;
  auto msrs = vcpu.GetMsrs(msr_indices);
  if (!msrs.ok()) return msrs.status();
  st.msrs = std::move(*msrs);
  return st;
}

absl::Status RestoreVcpuState(Vcpu& vcpu, const VcpuState& st) {
  // Order matters: sregs (modes) before registers that depend on them,
  // XCR0 before the XSAVE image it enables.
  if (absl::Status s = vcpu.SetSregs(st.sregs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetXcrs(st.xcrs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetXsave(st.xsave); !s.ok()) return s;
  if (absl::Status s = vcpu.SetMsrs(st.msrs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetRegs(st.regs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetDebugRegs(st.debugregs); !s.ok()) return s;
  return vcpu.SetEvents(st.events);
}

void ForEachVcpuField(const VcpuState& st, const VcpuFieldVisitor& visit) {
  auto u64 = [&](std::string_view name, uint64_t v) { visit(name, Bytes(v)); };
  const kvm_regs& r = st.regs;
  const std::pair<const char*, uint64_t> regs[] = {
      {"rax", r.rax}, {"rbx", r.rbx},      {"rcx", r.rcx}, {"rdx", r.rdx},
      {"rsi", r.rsi}, {"rdi", r.rdi},      {"rsp", r.rsp}, {"rbp", r.rbp},
      {"r8", r.r8},   {"r9", r.r9},        {"r10", r.r10}, {"r11", r.r11},
      {"r12", r.r12}, {"r13", r.r13},      {"r14", r.r14}, {"r15", r.r15},
      {"rip", r.rip}, {"rflags", r.rflags}};
  for (const auto& [name, v] : regs) u64(name, v);
  const kvm_sregs& s = st.sregs;
  const std::pair<const char*, const kvm_segment*> segs[] = {
      {"cs", &s.cs}, {"ds", &s.ds}, {"es", &s.es}, {"fs", &s.fs},
      {"gs", &s.gs}, {"ss", &s.ss}, {"tr", &s.tr}, {"ldt", &s.ldt}};
  std::string name;
  for (const auto& [seg_name, seg] : segs) {
    name = seg_name;
    u64(name + ".base", seg->base);
    u64(name + ".limit", seg->limit);
    u64(name + ".selector", seg->selector);
    u64(name + ".attributes", PackSegmentAttributes(*seg));
  }
  u64("gdt.base", s.gdt.base);
  u64("gdt.limit", s.gdt.limit);
  u64("idt.base", s.idt.base);
  u64("idt.limit", s.idt.limit);
  const std::pair<const char*, uint64_t> control[] = {
      {"cr0", s.cr0},
      {"cr2", s.cr2},
      {"cr3", s.cr3},
      {"cr4", s.cr4},
      {"cr8", s.cr8},
      {"efer", s.efer},
      {"apic_base", s.apic_base}};
  for (const auto& [cname, v] : control) u64(cname, v);
  for (size_t i = 0; i < std::size(s.interrupt_bitmap); ++i) {
    u64(absl::StrFormat("interrupt_bitmap[%d]", i), s.interrupt_bitmap[i]);
  }
  // The XSAVE image in standard format minus its header. KVM fills
  // components in their init state with their init values, so the content
  // is deterministic; XSTATE_BV is not: whether the CPU reports a component
  // still in init state (x87 after no x87 use, say) depends on host context
  // switches, and was seen to differ between a recording and its replay.
  const auto* xsave = reinterpret_cast<const uint8_t*>(st.xsave.region);
  visit("fpu control (fcw/fsw/ftw/fop/fip/fdp/mxcsr)",
        {xsave, kX87RegistersOffset});
  for (size_t i = 0; i < 8; ++i) {
    visit(absl::StrFormat("st%d", i),
          {xsave + kX87RegistersOffset + 16 * i, 16});
  }
  for (size_t i = 0; i < 16; ++i) {
    visit(absl::StrFormat("xmm%d", i),
          {xsave + kXmmRegistersOffset + 16 * i, 16});
  }
  visit("xsave legacy reserved",
        {xsave + kXmmRegistersOffset + 256,
         kXsaveHeaderOffset - kXmmRegistersOffset - 256});
  for (size_t i = 0; i < 16; ++i) {
    visit(absl::StrFormat("ymm%d (upper half)", i),
          {xsave + kYmmHighOffset + 16 * i, 16});
  }
  constexpr size_t kExtendedRest = kYmmHighOffset + 256;
  for (size_t off = kExtendedRest; off < sizeof st.xsave.region; off += 256) {
    visit(absl::StrFormat("xsave[0x%x]", off),
          {xsave + off, std::min<size_t>(256, sizeof st.xsave.region - off)});
  }
  u64("xcrs", st.xcrs.nr_xcrs);
  for (uint32_t i = 0; i < std::min<uint32_t>(st.xcrs.nr_xcrs, KVM_MAX_XCRS);
       ++i) {
    u64(absl::StrFormat("xcr%d", st.xcrs.xcrs[i].xcr), st.xcrs.xcrs[i].value);
  }
  const kvm_vcpu_events& e = st.events;
  u64("pending exception", uint64_t{e.exception.injected} |
                               uint64_t{e.exception.nr} << 8 |
                               uint64_t{e.exception.has_error_code} << 16 |
                               uint64_t{e.exception.pending} << 24 |
                               uint64_t{e.exception.error_code} << 32);
  u64("pending interrupt", uint64_t{e.interrupt.injected} |
                               uint64_t{e.interrupt.nr} << 8 |
                               uint64_t{e.interrupt.soft} << 16 |
                               uint64_t{e.interrupt.shadow} << 24);
  u64("nmi state", uint64_t{e.nmi.injected} | uint64_t{e.nmi.pending} << 8 |
                       uint64_t{e.nmi.masked} << 16);
  for (size_t i = 0; i < 4; ++i) {
    u64(absl::StrFormat("dr%d", i), st.debugregs.db[i]);
  }
  u64("dr6", st.debugregs.dr6);
  u64("dr7", st.debugregs.dr7);
  for (const MsrValue& m : st.msrs) {
    u64(absl::StrFormat("msr 0x%x", m.index), m.value);
  }
}

void HashVcpuState(const VcpuState& st, Hasher& h) {
  ForEachVcpuField(st, [&](std::string_view, std::span<const uint8_t> v) {
    h.UpdateU64(v.size());
    h.Update(v);
  });
}

}  // namespace xv
