// What `xvirt inspect` and `xvirt diff` show of the code at a point of a
// replay: the kernel's symbols (from the image held in the log) and the
// instructions around RIP, disassembled in the mode the CPU is in.
#ifndef EXTRAVIRT_DEBUG_CODE_LISTING_H_
#define EXTRAVIRT_DEBUG_CODE_LISTING_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "debug/disassembler.h"
#include "debug/elf_symbols.h"
#include "debug/replay_session.h"
#include "hypervisor/arch_state.h"

namespace xv {

// The symbols of a kernel image, or why there are none ("the kernel in the
// log has no symbols", a parse error).
struct KernelSymbols {
  std::optional<ElfSymbols> symbols;
  std::string note;  // set exactly when `symbols` is not

  static KernelSymbols Of(std::span<const uint8_t> image);
  // "name" or "name+0x1f"; "" without symbols or outside every symbol.
  std::string Symbolize(uint64_t address) const;
  // "file:line" from the DWARF line table, if the image has one.
  std::optional<std::string> SourceAt(uint64_t address) const;
};

// The code mode from the architectural state alone: ArchState keeps no
// descriptor caches, so a 32-bit code segment in long mode (compatibility
// mode, which the SDK never uses) shows as 64-bit.
CodeMode CodeModeOf(const ArchState& arch);

struct ListedInstruction {
  uint64_t address = 0;
  std::string symbol;  // KernelSymbols::Symbolize(address)
  std::string text;    // "mov %rax, %rbx" (AT&T)
  bool at_rip = false;
};

// `before` instructions before RIP (decoded from the start of RIP's
// function when the symbols know it), the one at RIP and `after` after it,
// read from the session's present point.
absl::StatusOr<std::vector<ListedInstruction>> ListCodeAround(
    const ReplaySession& session, const ArchState& arch,
    const KernelSymbols& symbols, size_t before, size_t after);

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_CODE_LISTING_H_
