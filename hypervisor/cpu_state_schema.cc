#include "hypervisor/cpu_state_schema.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

// Every field of ArchState is stored. A field added to it must be added to
// cpu_state.capnp and to both conversions below, or logs and checkpoint
// files would lose it silently; then update the size here.
static_assert(sizeof(ArchState) == 1056,
              "ArchState changed: store the change in cpu_state.capnp");

template <size_t N, size_t M>
void SetBytesList(capnp::List<capnp::Data>::Builder out,
                  const std::array<std::array<uint8_t, N>, M>& values) {
  for (size_t i = 0; i < M; ++i) {
    out.set(static_cast<unsigned>(i),
            capnp::Data::Reader(values[i].data(), values[i].size()));
  }
}

template <size_t N, size_t M>
absl::Status GetBytesList(capnp::List<capnp::Data>::Reader in,
                          std::array<std::array<uint8_t, N>, M>& values,
                          const char* field) {
  if (in.size() != M) {
    return absl::DataLossError(absl::StrFormat(
        "the CPU state's %s has %d registers, not %d", field, in.size(), M));
  }
  for (size_t i = 0; i < M; ++i) {
    capnp::Data::Reader d = in[static_cast<unsigned>(i)];
    if (d.size() != N) {
      return absl::DataLossError(absl::StrFormat(
          "the CPU state's %s[%d] is %d bytes, not %d", field, i, d.size(), N));
    }
    std::memcpy(values[i].data(), d.begin(), N);
  }
  return absl::OkStatus();
}

}  // namespace

void ToSchema(const Hash128& hash, schema::Hash128::Builder out) {
  out.setLow(hash.low);
  out.setHigh(hash.high);
}

Hash128 FromSchema(schema::Hash128::Reader in) {
  return {.high = in.getHigh(), .low = in.getLow()};
}

void ToSchema(std::span<const CpuidLeaf> leaves,
              capnp::List<schema::CpuidEntry>::Builder out) {
  for (size_t i = 0; i < leaves.size() && i < out.size(); ++i) {
    const CpuidLeaf& e = leaves[i];
    auto o = out[static_cast<unsigned>(i)];
    o.setFunction(e.function);
    o.setIndex(e.index);
    o.setFlags(e.flags);
    o.setEax(e.eax);
    o.setEbx(e.ebx);
    o.setEcx(e.ecx);
    o.setEdx(e.edx);
  }
}

std::vector<CpuidLeaf> FromSchema(capnp::List<schema::CpuidEntry>::Reader in) {
  std::vector<CpuidLeaf> out;
  out.reserve(in.size());
  for (schema::CpuidEntry::Reader e : in) {
    out.push_back({e.getFunction(), e.getIndex(), e.getFlags(), e.getEax(),
                   e.getEbx(), e.getEcx(), e.getEdx()});
  }
  return out;
}

void ToSchema(const ArchState& s, schema::ArchState::Builder out) {
  auto r = out.initRegs();
  const GeneralRegisters& g = s.regs;
  r.setRax(g.rax), r.setRbx(g.rbx), r.setRcx(g.rcx), r.setRdx(g.rdx);
  r.setRsi(g.rsi), r.setRdi(g.rdi), r.setRsp(g.rsp), r.setRbp(g.rbp);
  r.setR8(g.r8), r.setR9(g.r9), r.setR10(g.r10), r.setR11(g.r11);
  r.setR12(g.r12), r.setR13(g.r13), r.setR14(g.r14), r.setR15(g.r15);
  r.setRip(g.rip), r.setRflags(g.rflags);
  out.setCr0(s.cr0);
  out.setCr2(s.cr2);
  out.setCr3(s.cr3);
  out.setCr4(s.cr4);
  out.setCr8(s.cr8);
  out.setEfer(s.efer);
  out.setXcr0(s.xcr0);
  out.setCs(s.cs);
  out.setDs(s.ds);
  out.setEs(s.es);
  out.setFs(s.fs);
  out.setGs(s.gs);
  out.setSs(s.ss);
  out.setFsBase(s.fs_base);
  out.setGsBase(s.gs_base);
  out.initGdtr().setBase(s.gdtr.base);
  out.getGdtr().setLimit(s.gdtr.limit);
  out.initIdtr().setBase(s.idtr.base);
  out.getIdtr().setLimit(s.idtr.limit);
  for (auto [seg, in] :
       {std::pair{out.initLdtr(), &s.ldtr}, std::pair{out.initTr(), &s.tr}}) {
    seg.setSelector(in->selector);
    seg.setBase(in->base);
    seg.setLimit(in->limit);
  }
  out.setFcw(s.fcw);
  out.setFsw(s.fsw);
  out.setFtw(s.ftw);
  SetBytesList(out.initSt(static_cast<unsigned>(s.st.size())), s.st);
  out.setMxcsr(s.mxcsr);
  SetBytesList(out.initXmm(static_cast<unsigned>(s.xmm.size())), s.xmm);
  SetBytesList(out.initYmmHigh(static_cast<unsigned>(s.ymm_high.size())),
               s.ymm_high);
  auto dr = out.initDr(static_cast<unsigned>(s.dr.size()));
  for (size_t i = 0; i < s.dr.size(); ++i) {
    dr.set(static_cast<unsigned>(i), s.dr[i]);
  }
  out.setDr6(s.dr6);
  out.setDr7(s.dr7);
  auto msrs = out.initMsrs(static_cast<unsigned>(kArchMsrs.size()));
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    msrs[static_cast<unsigned>(i)].setIndex(kArchMsrs[i].index);
    msrs[static_cast<unsigned>(i)].setValue(s.msrs[i]);
  }
  out.setHasQueuedInterrupt(s.queued_interrupt.has_value());
  out.setQueuedInterrupt(s.queued_interrupt.value_or(0));
  out.setInterruptShadow(s.interrupt_shadow);
}

absl::StatusOr<ArchState> FromSchema(schema::ArchState::Reader in) {
  ArchState s;
  auto r = in.getRegs();
  s.regs = {r.getRax(), r.getRbx(), r.getRcx(),   r.getRdx(), r.getRsi(),
            r.getRdi(), r.getRsp(), r.getRbp(),   r.getR8(),  r.getR9(),
            r.getR10(), r.getR11(), r.getR12(),   r.getR13(), r.getR14(),
            r.getR15(), r.getRip(), r.getRflags()};
  s.cr0 = in.getCr0();
  s.cr2 = in.getCr2();
  s.cr3 = in.getCr3();
  s.cr4 = in.getCr4();
  s.cr8 = in.getCr8();
  s.efer = in.getEfer();
  s.xcr0 = in.getXcr0();
  s.cs = in.getCs();
  s.ds = in.getDs();
  s.es = in.getEs();
  s.fs = in.getFs();
  s.gs = in.getGs();
  s.ss = in.getSs();
  s.fs_base = in.getFsBase();
  s.gs_base = in.getGsBase();
  s.gdtr = {in.getGdtr().getBase(), in.getGdtr().getLimit()};
  s.idtr = {in.getIdtr().getBase(), in.getIdtr().getLimit()};
  s.ldtr = {in.getLdtr().getSelector(), in.getLdtr().getBase(),
            in.getLdtr().getLimit()};
  s.tr = {in.getTr().getSelector(), in.getTr().getBase(),
          in.getTr().getLimit()};
  s.fcw = in.getFcw();
  s.fsw = in.getFsw();
  s.ftw = in.getFtw();
  if (absl::Status st = GetBytesList(in.getSt(), s.st, "st"); !st.ok()) {
    return st;
  }
  s.mxcsr = in.getMxcsr();
  if (absl::Status st = GetBytesList(in.getXmm(), s.xmm, "xmm"); !st.ok()) {
    return st;
  }
  if (absl::Status st = GetBytesList(in.getYmmHigh(), s.ymm_high, "ymmHigh");
      !st.ok()) {
    return st;
  }
  if (in.getDr().size() != s.dr.size()) {
    return absl::DataLossError(
        absl::StrFormat("the CPU state has %d of DR0-DR3", in.getDr().size()));
  }
  for (size_t i = 0; i < s.dr.size(); ++i) {
    s.dr[i] = in.getDr()[static_cast<unsigned>(i)];
  }
  s.dr6 = in.getDr6();
  s.dr7 = in.getDr7();
  std::array<bool, kArchMsrs.size()> seen{};
  for (schema::Msr::Reader m : in.getMsrs()) {
    std::optional<size_t> slot = ArchMsrSlot(m.getIndex());
    if (!slot || seen[*slot]) {
      return absl::DataLossError(absl::StrFormat(
          "the CPU state holds MSR 0x%x %s", m.getIndex(),
          slot ? "twice" : "which is not architectural state here"));
    }
    seen[*slot] = true;
    s.msrs[*slot] = m.getValue();
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return absl::DataLossError(
          absl::StrFormat("the CPU state lacks MSR 0x%x (%s)",
                          kArchMsrs[i].index, kArchMsrs[i].name));
    }
  }
  if (in.getHasQueuedInterrupt()) s.queued_interrupt = in.getQueuedInterrupt();
  s.interrupt_shadow = in.getInterruptShadow();
  return s;
}

void ToSchema(const CpuState& state, schema::CpuState::Builder out) {
  ToSchema(state.arch, out.initArch());
  out.setBackend(state.backend);
  out.setBlob(capnp::Data::Reader(state.blob.data(), state.blob.size()));
}

absl::StatusOr<CpuState> FromSchema(schema::CpuState::Reader in) {
  auto arch = FromSchema(in.getArch());
  if (!arch.ok()) return arch.status();
  capnp::Text::Reader backend = in.getBackend();
  capnp::Data::Reader blob = in.getBlob();
  return CpuState{*std::move(arch), std::string(backend.begin(), backend.end()),
                  std::vector<uint8_t>(blob.begin(), blob.end())};
}

}  // namespace xv
