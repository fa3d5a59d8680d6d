#include "kvm/vcpu_state.h"

#include <algorithm>

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

void HashSegment(const kvm_segment& s, Hasher& h) {
  h.UpdateU64(s.base);
  h.UpdateU64(s.limit);
  h.UpdateU64(s.selector);
  h.UpdateU64(static_cast<uint64_t>(s.type) | uint64_t{s.present} << 8 |
              uint64_t{s.dpl} << 16 | uint64_t{s.db} << 24 |
              uint64_t{s.s} << 32 | uint64_t{s.l} << 40 | uint64_t{s.g} << 48 |
              uint64_t{s.avl} << 56);
  h.UpdateU64(s.unusable);
}

void HashDtable(const kvm_dtable& d, Hasher& h) {
  h.UpdateU64(d.base);
  h.UpdateU64(d.limit);
}

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

void HashVcpuState(const VcpuState& st, Hasher& h) {
  const kvm_regs& r = st.regs;
  for (uint64_t v :
       {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9,
        r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags}) {
    h.UpdateU64(v);
  }
  const kvm_sregs& s = st.sregs;
  for (const kvm_segment* seg :
       {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss, &s.tr, &s.ldt}) {
    HashSegment(*seg, h);
  }
  HashDtable(s.gdt, h);
  HashDtable(s.idt, h);
  for (uint64_t v : {s.cr0, s.cr2, s.cr3, s.cr4, s.cr8, s.efer, s.apic_base}) {
    h.UpdateU64(v);
  }
  for (uint64_t v : s.interrupt_bitmap) h.UpdateU64(v);
  // The XSAVE image in standard format: KVM fills components in their init
  // state with their init values, so the whole region is deterministic.
  h.Update({reinterpret_cast<const uint8_t*>(st.xsave.region),
            sizeof st.xsave.region});
  h.UpdateU64(st.xcrs.nr_xcrs);
  for (uint32_t i = 0; i < std::min<uint32_t>(st.xcrs.nr_xcrs, KVM_MAX_XCRS);
       ++i) {
    h.UpdateU64(st.xcrs.xcrs[i].xcr);
    h.UpdateU64(st.xcrs.xcrs[i].value);
  }
  const kvm_vcpu_events& e = st.events;
  h.UpdateU64(uint64_t{e.exception.injected} | uint64_t{e.exception.nr} << 8 |
              uint64_t{e.exception.has_error_code} << 16 |
              uint64_t{e.exception.pending} << 24 |
              uint64_t{e.exception.error_code} << 32);
  h.UpdateU64(uint64_t{e.interrupt.injected} | uint64_t{e.interrupt.nr} << 8 |
              uint64_t{e.interrupt.soft} << 16 |
              uint64_t{e.interrupt.shadow} << 24);
  h.UpdateU64(uint64_t{e.nmi.injected} | uint64_t{e.nmi.pending} << 8 |
              uint64_t{e.nmi.masked} << 16);
  for (uint64_t v : st.debugregs.db) h.UpdateU64(v);
  h.UpdateU64(st.debugregs.dr6);
  h.UpdateU64(st.debugregs.dr7);
  for (const MsrValue& m : st.msrs) {
    h.UpdateU64(m.index);
    h.UpdateU64(m.value);
  }
}

}  // namespace xv
