#include "debug/code_listing.h"

#include "absl/strings/str_format.h"
#include "hypervisor/x86_bits.h"

namespace xv {

KernelSymbols KernelSymbols::Of(std::span<const uint8_t> image) {
  KernelSymbols out;
  auto parsed = ElfSymbols::Parse(image);
  if (!parsed.ok()) {
    out.note = std::string(parsed.status().message());
  } else if (!parsed->has_symbols()) {
    out.note = "the kernel in the log has no symbols";
  } else {
    out.symbols = std::move(*parsed);
  }
  return out;
}

std::string KernelSymbols::Symbolize(uint64_t address) const {
  if (!symbols) return "";
  std::optional<SymbolAt> at = symbols->Lookup(address);
  if (!at) return "";
  return at->offset == 0 ? at->name
                         : absl::StrFormat("%s+0x%x", at->name, at->offset);
}

std::optional<std::string> KernelSymbols::SourceAt(uint64_t address) const {
  if (!symbols) return std::nullopt;
  std::optional<SourceLine> line = symbols->LineAt(address);
  if (!line) return std::nullopt;
  return absl::StrFormat("%s:%d", line->file, line->line);
}

CodeMode CodeModeOf(const ArchState& arch) {
  if (arch.efer & x86::kEferLma) return CodeMode::k64;
  return (arch.cr0 & x86::kCr0Pe) ? CodeMode::k32 : CodeMode::k16;
}

absl::StatusOr<std::vector<ListedInstruction>> ListCodeAround(
    const ReplaySession& session, const ArchState& arch,
    const KernelSymbols& symbols, size_t before, size_t after) {
  auto disassembler = Disassembler::Create(CodeModeOf(arch), AsmSyntax::kAtt);
  if (!disassembler.ok()) return disassembler.status();
  const uint64_t rip = arch.regs.rip;
  std::optional<uint64_t> function_start;
  if (symbols.symbols) {
    if (auto at = symbols.symbols->Lookup(rip)) function_start = at->start;
  }
  auto around = disassembler->DisassembleAround(
      [&](uint64_t address, std::span<uint8_t> out) {
        return session.ReadLinear(address, out);
      },
      rip, before, after, function_start);
  if (!around.ok()) return around.status();
  std::vector<ListedInstruction> listing;
  for (size_t i = 0; i < around->instructions.size(); ++i) {
    const Instruction& insn = around->instructions[i];
    listing.push_back({.address = insn.address,
                       .symbol = symbols.Symbolize(insn.address),
                       .text = insn.Text(),
                       .at_rip = i == around->rip_index});
  }
  return listing;
}

}  // namespace xv
