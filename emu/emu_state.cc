#include "emu/emu_state.h"

#include <array>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "emu/unicorn_engine.h"

namespace xv {
namespace {

constexpr uint32_t kEferMsr = 0xc0000080;

// In kGeneralRegisterMembers order.
constexpr std::array<int, 18> kGeneralRegisterIds = {
    UC_X86_REG_RAX, UC_X86_REG_RBX,   UC_X86_REG_RCX, UC_X86_REG_RDX,
    UC_X86_REG_RSI, UC_X86_REG_RDI,   UC_X86_REG_RSP, UC_X86_REG_RBP,
    UC_X86_REG_R8,  UC_X86_REG_R9,    UC_X86_REG_R10, UC_X86_REG_R11,
    UC_X86_REG_R12, UC_X86_REG_R13,   UC_X86_REG_R14, UC_X86_REG_R15,
    UC_X86_REG_RIP, UC_X86_REG_RFLAGS};

absl::StatusOr<uint64_t> ReadMsr(uc_engine* uc, uint32_t index) {
  uc_x86_msr msr{index, 0};
  if (absl::Status s = UcStatus(uc_reg_read(uc, UC_X86_REG_MSR, &msr),
                                absl::StrFormat("read MSR 0x%x", index));
      !s.ok()) {
    return s;
  }
  return msr.value;
}

absl::Status WriteMsr(uc_engine* uc, uint32_t index, uint64_t value) {
  uc_x86_msr msr{index, value};
  return UcStatus(uc_reg_write(uc, UC_X86_REG_MSR, &msr),
                  absl::StrFormat("write MSR 0x%x", index));
}

template <typename T>
absl::Status Read(uc_engine* uc, int reg, T& into, const char* what) {
  return UcStatus(uc_reg_read(uc, reg, &into), std::string("read ") + what);
}
template <typename T>
absl::Status Write(uc_engine* uc, int reg, const T& value, const char* what) {
  T copy = value;
  return UcStatus(uc_reg_write(uc, reg, &copy), std::string("write ") + what);
}

// Unicorn's FPTAG is the full tag word (2 bits per physical register,
// 11 = empty); ArchState keeps FXSAVE's abridged form.
uint8_t AbridgeTagWord(uint16_t full) {
  uint8_t abridged = 0;
  for (int i = 0; i < 8; ++i) {
    if (((full >> (2 * i)) & 3) != 3) abridged |= 1u << i;
  }
  return abridged;
}
uint16_t ExpandTagWord(uint8_t abridged) {
  uint16_t full = 0;
  for (int i = 0; i < 8; ++i) {
    if (!(abridged & (1u << i))) full |= 3u << (2 * i);
  }
  return full;
}

}  // namespace

#define XV_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    if (absl::Status xv_s = (expr); !xv_s.ok()) { \
      return xv_s;                                \
    }                                             \
  } while (0)

absl::StatusOr<GeneralRegisters> ReadGeneralRegisters(uc_engine* uc) {
  GeneralRegisters r;
  std::array<int, 18> ids = kGeneralRegisterIds;
  std::array<void*, 18> values;
  for (size_t i = 0; i < ids.size(); ++i) {
    values[i] = &(r.*kGeneralRegisterMembers[i]);
  }
  XV_RETURN_IF_ERROR(
      UcStatus(uc_reg_read_batch(uc, ids.data(), values.data(), ids.size()),
               "read the general registers"));
  return r;
}

absl::Status WriteGeneralRegisters(uc_engine* uc, const GeneralRegisters& r) {
  GeneralRegisters copy = r;
  std::array<int, 18> ids = kGeneralRegisterIds;
  std::array<void*, 18> values;
  for (size_t i = 0; i < ids.size(); ++i) {
    values[i] = &(copy.*kGeneralRegisterMembers[i]);
  }
  return UcStatus(uc_reg_write_batch(uc, ids.data(), values.data(), ids.size()),
                  "write the general registers");
}

absl::StatusOr<uint64_t> ReadEfer(uc_engine* uc) {
  return ReadMsr(uc, kEferMsr);
}

absl::StatusOr<ArchState> ReadArchState(uc_engine* uc) {
  ArchState s;
  auto regs = ReadGeneralRegisters(uc);
  if (!regs.ok()) return regs.status();
  s.regs = *regs;
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_CR0, s.cr0, "CR0"));
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_CR2, s.cr2, "CR2"));
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_CR3, s.cr3, "CR3"));
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_CR4, s.cr4, "CR4"));
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_CR8, s.cr8, "CR8"));
  auto efer = ReadEfer(uc);
  if (!efer.ok()) return efer.status();
  s.efer = *efer;
  const std::pair<int, uint16_t*> selectors[] = {
      {UC_X86_REG_CS, &s.cs}, {UC_X86_REG_DS, &s.ds}, {UC_X86_REG_ES, &s.es},
      {UC_X86_REG_FS, &s.fs}, {UC_X86_REG_GS, &s.gs}, {UC_X86_REG_SS, &s.ss}};
  for (auto [id, field] : selectors) {
    uint64_t v = 0;
    XV_RETURN_IF_ERROR(Read(uc, id, v, "a segment selector"));
    *field = static_cast<uint16_t>(v);
  }
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_FS_BASE, s.fs_base, "FS base"));
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_GS_BASE, s.gs_base, "GS base"));
  uc_x86_mmr mmr{};
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_GDTR, mmr, "GDTR"));
  s.gdtr = {mmr.base, static_cast<uint16_t>(mmr.limit)};
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_IDTR, mmr, "IDTR"));
  s.idtr = {mmr.base, static_cast<uint16_t>(mmr.limit)};
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_LDTR, mmr, "LDTR"));
  s.ldtr = {mmr.selector, mmr.base, mmr.limit};
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_TR, mmr, "TR"));
  s.tr = {mmr.selector, mmr.base, mmr.limit};

  uint64_t word = 0;
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_FPCW, word, "FPU control word"));
  s.fcw = static_cast<uint16_t>(word);
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_FPSW, word, "FPU status word"));
  s.fsw = static_cast<uint16_t>(word);
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_FPTAG, word, "FPU tag word"));
  s.ftw = AbridgeTagWord(static_cast<uint16_t>(word));
  for (int i = 0; i < 8; ++i) {
    uint8_t raw[16] = {};
    XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_ST0 + i, raw, "an x87 register"));
    std::memcpy(s.st[i].data(), raw, s.st[i].size());
  }
  uint64_t mxcsr = 0;
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_MXCSR, mxcsr, "MXCSR"));
  s.mxcsr = static_cast<uint32_t>(mxcsr);
  for (int i = 0; i < 16; ++i) {
    XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_XMM0 + i, s.xmm[i], "an XMM"));
  }
  for (int i = 0; i < 4; ++i) {
    XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_DR0 + i, s.dr[i], "a DR"));
  }
  uint64_t dr = 0;
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_DR6, dr, "DR6"));
  s.dr6 = NormalizeDr6(dr);
  XV_RETURN_IF_ERROR(Read(uc, UC_X86_REG_DR7, dr, "DR7"));
  s.dr7 = NormalizeDr7(dr);
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    auto v = ReadMsr(uc, kArchMsrs[i].index);
    if (!v.ok()) return v.status();
    s.msrs[i] = *v;
  }
  return s;
}

absl::Status WriteArchRegisters(uc_engine* uc, const ArchState& s) {
  XV_RETURN_IF_ERROR(WriteGeneralRegisters(uc, s.regs));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_CR2, s.cr2, "CR2"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_CR3, s.cr3, "CR3"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_CR8, s.cr8, "CR8"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_FS_BASE, s.fs_base, "FS base"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_GS_BASE, s.gs_base, "GS base"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_GDTR,
                           uc_x86_mmr{0, s.gdtr.base, s.gdtr.limit, 0},
                           "GDTR"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_IDTR,
                           uc_x86_mmr{0, s.idtr.base, s.idtr.limit, 0},
                           "IDTR"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_FPCW, uint64_t{s.fcw}, "FPCW"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_FPSW, uint64_t{s.fsw}, "FPSW"));
  XV_RETURN_IF_ERROR(
      Write(uc, UC_X86_REG_FPTAG, uint64_t{ExpandTagWord(s.ftw)}, "FPTAG"));
  for (int i = 0; i < 8; ++i) {
    uint8_t raw[16] = {};
    std::memcpy(raw, s.st[i].data(), s.st[i].size());
    XV_RETURN_IF_ERROR(UcStatus(uc_reg_write(uc, UC_X86_REG_ST0 + i, raw),
                                "write an x87 register"));
  }
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_MXCSR, uint64_t{s.mxcsr}, "MXCSR"));
  for (int i = 0; i < 16; ++i) {
    XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_XMM0 + i, s.xmm[i], "an XMM"));
  }
  for (int i = 0; i < 4; ++i) {
    XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_DR0 + i, s.dr[i], "a DR"));
  }
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_DR6, s.dr6, "DR6"));
  XV_RETURN_IF_ERROR(Write(uc, UC_X86_REG_DR7, s.dr7, "DR7"));
  for (size_t i = 0; i < kArchMsrs.size(); ++i) {
    XV_RETURN_IF_ERROR(WriteMsr(uc, kArchMsrs[i].index, s.msrs[i]));
  }
  return absl::OkStatus();
}

#undef XV_RETURN_IF_ERROR

}  // namespace xv
