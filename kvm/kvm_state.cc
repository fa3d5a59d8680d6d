#include "kvm/kvm_state.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "hypervisor/segment_descriptor.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kEferLma;

// XSAVE standard-format layout (SDM vol. 1, 13.4).
constexpr size_t kFcwOffset = 0;
constexpr size_t kFswOffset = 2;
constexpr size_t kFtwOffset = 4;
constexpr size_t kMxcsrOffset = 24;
constexpr size_t kStOffset = 32;
constexpr size_t kXmmOffset = 160;
constexpr size_t kYmmHighOffset = 576;
constexpr uint64_t kXstateX87 = 1, kXstateSse = 2, kXstateAvx = 4;

uint8_t* XsaveBytes(kvm_xsave& x) {
  return reinterpret_cast<uint8_t*>(x.region);
}
const uint8_t* XsaveBytes(const kvm_xsave& x) {
  return reinterpret_cast<const uint8_t*>(x.region);
}

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
void Store(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

uint64_t Xcr0(const kvm_xcrs& xcrs) {
  for (uint32_t i = 0; i < std::min<uint32_t>(xcrs.nr_xcrs, KVM_MAX_XCRS);
       ++i) {
    if (xcrs.xcrs[i].xcr == 0) return xcrs.xcrs[i].value;
  }
  return 1;
}

kvm_segment ToKvmSegment(const SegmentDescriptor& d) {
  kvm_segment s{};
  s.selector = d.selector;
  s.base = d.base;
  s.limit = d.limit;
  s.type = d.type;
  s.s = d.s;
  s.dpl = d.dpl;
  s.present = d.present;
  s.avl = d.avl;
  s.l = d.l;
  s.db = d.db;
  s.g = d.g;
  s.unusable = d.unusable ? 1 : 0;
  return s;
}

}  // namespace

GeneralRegisters FromKvmRegs(const kvm_regs& r) {
  return {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8,
          r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rip, r.rflags};
}

kvm_regs ToKvmRegs(const GeneralRegisters& g) {
  kvm_regs r{};
  r.rax = g.rax, r.rbx = g.rbx, r.rcx = g.rcx, r.rdx = g.rdx;
  r.rsi = g.rsi, r.rdi = g.rdi, r.rsp = g.rsp, r.rbp = g.rbp;
  r.r8 = g.r8, r.r9 = g.r9, r.r10 = g.r10, r.r11 = g.r11;
  r.r12 = g.r12, r.r13 = g.r13, r.r14 = g.r14, r.r15 = g.r15;
  r.rip = g.rip, r.rflags = g.rflags;
  return r;
}

absl::StatusOr<KvmVcpuState> CaptureKvmState(
    Vcpu& vcpu, std::span<const uint32_t> msr_indices) {
  KvmVcpuState st;
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

absl::Status RestoreKvmState(Vcpu& vcpu, const KvmVcpuState& st) {
  if (absl::Status s = vcpu.SetSregs(st.sregs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetXcrs(st.xcrs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetXsave(st.xsave); !s.ok()) return s;
  if (absl::Status s = vcpu.SetMsrs(st.msrs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetRegs(st.regs); !s.ok()) return s;
  if (absl::Status s = vcpu.SetDebugRegs(st.debugregs); !s.ok()) return s;
  return vcpu.SetEvents(st.events);
}

ArchState ToArchState(const KvmVcpuState& k) {
  ArchState a;
  a.regs = FromKvmRegs(k.regs);
  const kvm_sregs& s = k.sregs;
  a.cr0 = s.cr0;
  a.cr2 = s.cr2;
  a.cr3 = s.cr3;
  a.cr4 = s.cr4;
  a.cr8 = s.cr8;
  a.efer = s.efer;
  a.xcr0 = Xcr0(k.xcrs);
  a.cs = s.cs.selector;
  a.ds = s.ds.selector;
  a.es = s.es.selector;
  a.fs = s.fs.selector;
  a.gs = s.gs.selector;
  a.ss = s.ss.selector;
  a.fs_base = s.fs.base;
  a.gs_base = s.gs.base;
  a.gdtr = {s.gdt.base, s.gdt.limit};
  a.idtr = {s.idt.base, s.idt.limit};
  a.ldtr = {s.ldt.selector, s.ldt.base, s.ldt.limit};
  a.tr = {s.tr.selector, s.tr.base, s.tr.limit};

  // KVM fills components in their init state with their init values, so
  // the content is read whatever XSTATE_BV says (whether a component in
  // init state is reported as such depends on host context switches).
  const uint8_t* x = XsaveBytes(k.xsave);
  a.fcw = Load<uint16_t>(x + kFcwOffset);
  a.fsw = Load<uint16_t>(x + kFswOffset);
  a.ftw = x[kFtwOffset];
  for (size_t i = 0; i < a.st.size(); ++i) {
    std::memcpy(a.st[i].data(), x + kStOffset + 16 * i, a.st[i].size());
  }
  a.mxcsr = Load<uint32_t>(x + kMxcsrOffset);
  for (size_t i = 0; i < a.xmm.size(); ++i) {
    std::memcpy(a.xmm[i].data(), x + kXmmOffset + 16 * i, 16);
    std::memcpy(a.ymm_high[i].data(), x + kYmmHighOffset + 16 * i, 16);
  }

  for (size_t i = 0; i < a.dr.size(); ++i) a.dr[i] = k.debugregs.db[i];
  a.dr6 = NormalizeDr6(k.debugregs.dr6);
  a.dr7 = NormalizeDr7(k.debugregs.dr7);

  for (const MsrValue& m : k.msrs) {
    if (std::optional<size_t> slot = ArchMsrSlot(m.index)) {
      a.msrs[*slot] = m.value;
    }
  }
  if (k.events.interrupt.injected && !k.events.interrupt.soft) {
    a.queued_interrupt = k.events.interrupt.nr;
  }
  a.interrupt_shadow = k.events.interrupt.shadow != 0;
  return a;
}

absl::StatusOr<KvmVcpuState> FromArchState(const ArchState& a,
                                           const KvmVcpuState& current,
                                           const GuestMemory& memory) {
  KvmVcpuState k = current;
  k.regs = ToKvmRegs(a.regs);

  kvm_sregs& s = k.sregs;
  s.cr0 = a.cr0;
  s.cr2 = a.cr2;
  s.cr3 = a.cr3;
  s.cr4 = a.cr4;
  s.cr8 = a.cr8;
  s.efer = a.efer;
  s.gdt = {};
  s.gdt.base = a.gdtr.base;
  s.gdt.limit = a.gdtr.limit;
  s.idt = {};
  s.idt.base = a.idtr.base;
  s.idt.limit = a.idtr.limit;
  const std::tuple<kvm_segment*, uint16_t, bool, const char*> segs[] = {
      {&s.cs, a.cs, false, "CS"}, {&s.ds, a.ds, true, "DS"},
      {&s.es, a.es, true, "ES"},  {&s.fs, a.fs, true, "FS"},
      {&s.gs, a.gs, true, "GS"},  {&s.ss, a.ss, true, "SS"}};
  for (const auto& [seg, selector, data, name] : segs) {
    auto loaded = LoadSegmentDescriptor(selector, data, a, memory, name);
    if (!loaded.ok()) return loaded.status();
    *seg = ToKvmSegment(*loaded);
  }
  // A null SS in 64-bit mode is usable at CPL0 (the architecture loads it
  // with RPL = CPL); KVM wants it present with the CPL as DPL.
  if ((a.efer & kEferLma) && s.ss.unusable) {
    s.ss.unusable = 0;
    s.ss.present = 1;
    s.ss.s = 1;
    s.ss.type = 3;
    s.ss.dpl = a.cs & 3;
    s.ss.db = 1;
  }
  s.fs.base = a.fs_base;
  s.gs.base = a.gs_base;
  auto ldt = LoadSystemSegmentDescriptor(a.ldtr, a, memory, "LDTR", 2);
  if (!ldt.ok()) return ldt.status();
  s.ldt = ToKvmSegment(*ldt);
  auto tr = LoadSystemSegmentDescriptor(a.tr, a, memory, "TR", 0xb);
  if (!tr.ok()) return tr.status();
  s.tr = ToKvmSegment(*tr);
  std::fill(std::begin(s.interrupt_bitmap), std::end(s.interrupt_bitmap), 0);

  k.xcrs = {};
  k.xcrs.nr_xcrs = 1;
  k.xcrs.xcrs[0].xcr = 0;
  k.xcrs.xcrs[0].value = a.xcr0;

  uint8_t* x = XsaveBytes(k.xsave);
  Store<uint16_t>(x + kFcwOffset, a.fcw);
  Store<uint16_t>(x + kFswOffset, a.fsw);
  x[kFtwOffset] = a.ftw;
  // FOP, FIP, FDP are not architectural state here (arch_state.h).
  std::memset(x + 6, 0, kMxcsrOffset - 6);
  Store<uint32_t>(x + kMxcsrOffset, a.mxcsr);
  for (size_t i = 0; i < a.st.size(); ++i) {
    std::memset(x + kStOffset + 16 * i, 0, 16);
    std::memcpy(x + kStOffset + 16 * i, a.st[i].data(), a.st[i].size());
  }
  for (size_t i = 0; i < a.xmm.size(); ++i) {
    std::memcpy(x + kXmmOffset + 16 * i, a.xmm[i].data(), 16);
    std::memcpy(x + kYmmHighOffset + 16 * i, a.ymm_high[i].data(), 16);
  }
  const uint64_t xstate_bv =
      kXstateX87 | kXstateSse | ((a.xcr0 & kXstateAvx) ? kXstateAvx : 0);
  Store<uint64_t>(x + kXsaveHeaderOffset, xstate_bv);
  Store<uint64_t>(x + kXsaveHeaderOffset + 8, 0);  // standard format

  for (size_t i = 0; i < a.dr.size(); ++i) k.debugregs.db[i] = a.dr[i];
  k.debugregs.dr6 = a.dr6;
  k.debugregs.dr7 = a.dr7;

  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    auto held = std::find_if(
        k.msrs.begin(), k.msrs.end(),
        [&](const MsrValue& m) { return m.index == kArchMsrs[i].index; });
    if (held != k.msrs.end()) {
      held->value = a.msrs[i];
    } else if (a.msrs[i] != kArchMsrs[i].reset_value) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the state sets MSR 0x%x (%s) to 0x%x, which this host's KVM "
          "does not support",
          kArchMsrs[i].index, kArchMsrs[i].name, a.msrs[i]));
    }
  }

  k.events = {};
  k.events.flags = KVM_VCPUEVENT_VALID_SHADOW;
  if (a.queued_interrupt) {
    k.events.interrupt.injected = 1;
    k.events.interrupt.nr = *a.queued_interrupt;
  }
  k.events.interrupt.shadow = a.interrupt_shadow ? KVM_X86_SHADOW_INT_STI : 0;
  return k;
}

// ----------------------------------------------------------------------
// The blob: a tag and the sizes of the kernel structs (so that a blob of
// another ABI is refused, never misread), the structs, then the MSRs.

namespace {

constexpr char kBlobTag[8] = {'K', 'V', 'M', 'S', 'T', 'A', 'T', '1'};

struct BlobSizes {
  uint32_t regs = sizeof(kvm_regs);
  uint32_t sregs = sizeof(kvm_sregs);
  uint32_t xsave = sizeof(kvm_xsave);
  uint32_t xcrs = sizeof(kvm_xcrs);
  uint32_t events = sizeof(kvm_vcpu_events);
  uint32_t debugregs = sizeof(kvm_debugregs);
  friend bool operator==(const BlobSizes&, const BlobSizes&) = default;
};

template <typename T>
void Append(std::vector<uint8_t>& out, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

}  // namespace

std::vector<uint8_t> SerializeKvmState(const KvmVcpuState& st) {
  std::vector<uint8_t> out(std::begin(kBlobTag), std::end(kBlobTag));
  Append(out, BlobSizes{});
  Append(out, st.regs);
  Append(out, st.sregs);
  Append(out, st.xsave);
  Append(out, st.xcrs);
  Append(out, st.events);
  Append(out, st.debugregs);
  Append(out, static_cast<uint32_t>(st.msrs.size()));
  for (const MsrValue& m : st.msrs) {
    Append(out, m.index);
    Append(out, m.value);
  }
  return out;
}

absl::StatusOr<KvmVcpuState> ParseKvmState(std::span<const uint8_t> blob) {
  size_t at = 0;
  auto take = [&](void* dst, size_t n) {
    if (blob.size() - at < n) return false;
    std::memcpy(dst, blob.data() + at, n);
    at += n;
    return true;
  };
  char tag[sizeof kBlobTag];
  BlobSizes sizes;
  if (!take(tag, sizeof tag) ||
      std::memcmp(tag, kBlobTag, sizeof kBlobTag) != 0) {
    return absl::InvalidArgumentError("not a KVM vCPU state blob");
  }
  if (!take(&sizes, sizeof sizes)) {
    return absl::DataLossError("KVM vCPU state blob is truncated");
  }
  if (!(sizes == BlobSizes{})) {
    return absl::FailedPreconditionError(
        "the KVM vCPU state blob was made with other kernel struct sizes");
  }
  KvmVcpuState st;
  uint32_t msrs = 0;
  if (!take(&st.regs, sizeof st.regs) || !take(&st.sregs, sizeof st.sregs) ||
      !take(&st.xsave, sizeof st.xsave) || !take(&st.xcrs, sizeof st.xcrs) ||
      !take(&st.events, sizeof st.events) ||
      !take(&st.debugregs, sizeof st.debugregs) || !take(&msrs, sizeof msrs)) {
    return absl::DataLossError("KVM vCPU state blob is truncated");
  }
  if (msrs > 256) {
    return absl::DataLossError(
        absl::StrFormat("KVM vCPU state blob claims %d MSRs", msrs));
  }
  for (uint32_t i = 0; i < msrs; ++i) {
    MsrValue m{};
    if (!take(&m.index, sizeof m.index) || !take(&m.value, sizeof m.value)) {
      return absl::DataLossError("KVM vCPU state blob is truncated");
    }
    st.msrs.push_back(m);
  }
  if (at != blob.size()) {
    return absl::DataLossError(absl::StrFormat(
        "%d bytes follow the KVM vCPU state blob", blob.size() - at));
  }
  return st;
}

}  // namespace xv
