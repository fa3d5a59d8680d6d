#include "emu/exit_instruction_scanner.h"

#include "absl/strings/str_format.h"

namespace xv {
namespace {

absl::StatusOr<csh> OpenCapstone(cs_mode mode) {
  csh handle = 0;
  if (cs_err err = cs_open(CS_ARCH_X86, mode, &handle); err != CS_ERR_OK) {
    return absl::InternalError(
        absl::StrFormat("capstone: cs_open(x86): %s", cs_strerror(err)));
  }
  return handle;
}

}  // namespace

absl::StatusOr<ExitInstructionScanner> ExitInstructionScanner::Create() {
  csh handles[3] = {0, 0, 0};
  const cs_mode modes[3] = {CS_MODE_16, CS_MODE_32, CS_MODE_64};
  for (int i = 0; i < 3; ++i) {
    auto h = OpenCapstone(modes[i]);
    if (!h.ok()) {
      for (int j = 0; j < i; ++j) cs_close(&handles[j]);
      return h.status();
    }
    handles[i] = *h;
  }
  return ExitInstructionScanner(handles[0], handles[1], handles[2]);
}

ExitInstructionScanner::ExitInstructionScanner(
    ExitInstructionScanner&& other) noexcept
    : cs16_(other.cs16_), cs32_(other.cs32_), cs64_(other.cs64_) {
  other.cs16_ = other.cs32_ = other.cs64_ = 0;
}

ExitInstructionScanner::~ExitInstructionScanner() {
  for (csh* h : {&cs16_, &cs32_, &cs64_}) {
    if (*h != 0) cs_close(h);
  }
}

csh ExitInstructionScanner::Handle(CodeMode mode) const {
  return mode == CodeMode::k64 ? cs64_ : mode == CodeMode::k32 ? cs32_ : cs16_;
}

std::vector<ExitInstruction> ExitInstructionScanner::Scan(
    uint64_t address, std::span<const uint8_t> code, CodeMode mode) const {
  const csh handle = Handle(mode);
  std::vector<ExitInstruction> found;
  cs_insn* insn = cs_malloc(handle);
  if (insn == nullptr) return found;
  const uint8_t* bytes = code.data();
  size_t left = code.size();
  uint64_t at = address;
  while (cs_disasm_iter(handle, &bytes, &left, &at, insn)) {
    const std::span<const uint8_t> here(insn->bytes, insn->size);
    if (insn->id == X86_INS_HLT) {
      found.push_back({insn->address, static_cast<uint8_t>(insn->size),
                       ExitInstruction::Kind::kHlt});
    } else if (DecodeIoInstruction(here, mode).has_value()) {
      found.push_back({insn->address, static_cast<uint8_t>(insn->size),
                       ExitInstruction::Kind::kPortIo});
    }
  }
  cs_free(insn, 1);
  return found;
}

std::optional<std::string> ExitInstructionScanner::DescribeUnexecutable(
    std::span<const uint8_t> code, CodeMode mode) const {
  cs_insn* insn = nullptr;
  const size_t n =
      cs_disasm(Handle(mode), code.data(), code.size(), 0, 1, &insn);
  if (n == 0) return std::nullopt;
  std::optional<std::string> text;
  if (insn[0].id != X86_INS_UD2 && insn[0].id != X86_INS_UD0 &&
      insn[0].id != X86_INS_UD2B) {
    text = absl::StrFormat("%s %s", insn[0].mnemonic, insn[0].op_str);
  }
  cs_free(insn, n);
  return text;
}

}  // namespace xv
