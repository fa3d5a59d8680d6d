// x86 disassembly for looking at a guest where a replay stopped or diverged
// (`xvirt inspect`, `xvirt diff`): listings of code bytes, and the
// instructions around RIP read out of guest memory.
#ifndef EXTRAVIRT_DEBUG_DISASSEMBLER_H_
#define EXTRAVIRT_DEBUG_DISASSEMBLER_H_

#include <capstone/capstone.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "hypervisor/io_instruction.h"

namespace xv {

// Intel is what Intel's and AMD's manuals print; AT&T is what gdb and objdump
// print by default, so people coming from a gdb session can ask for it.
enum class AsmSyntax : uint8_t { kIntel, kAtt };

struct Instruction {
  uint64_t address = 0;
  std::vector<uint8_t> bytes;
  std::string mnemonic;  // "(bad)" for bytes that decode to no instruction
  std::string operands;  // empty when the instruction has none

  // "mnemonic operands", or the mnemonic alone.
  std::string Text() const;
};

// A listing around RIP: instructions[rip_index] starts at RIP.
struct AroundListing {
  std::vector<Instruction> instructions;
  size_t rip_index = 0;
};

// Reads guest memory at `address` into `out`; returns how many bytes it
// could read from the start of `out` (fewer at an unmapped page).
using ReadMemoryFn =
    absl::FunctionRef<size_t(uint64_t address, std::span<uint8_t> out)>;

// One Capstone handle for one code mode. Move-only; not safe to use from two
// threads at once (Capstone keeps per-handle state), make one per thread.
class Disassembler {
 public:
  static absl::StatusOr<Disassembler> Create(
      CodeMode mode, AsmSyntax syntax = AsmSyntax::kIntel);

  Disassembler(Disassembler&& other) noexcept;
  Disassembler& operator=(Disassembler&& other) noexcept;
  Disassembler(const Disassembler&) = delete;
  Disassembler& operator=(const Disassembler&) = delete;
  ~Disassembler();

  CodeMode mode() const { return mode_; }

  // Up to `max_count` instructions of `code`, the first at `address`. Stops
  // after an entry "(bad)" (one byte) for bytes that are no instruction, and
  // without an entry when the last instruction runs past the end of `code`.
  std::vector<Instruction> Decode(std::span<const uint8_t> code,
                                  uint64_t address, size_t max_count) const;

  // Up to `before` instructions ending right at `rip`, the one at `rip`, and
  // up to `after` following it. x86 code cannot be decoded backwards, so the
  // instructions before RIP come from decoding forward out of the start
  // point, within a window below RIP, whose decode lands exactly on RIP and
  // is longest; when `function_start` (e.g. the enclosing symbol's address)
  // lands on RIP, only starts whose decode passes through it. Fewer than
  // `before` instructions when no start lands on RIP or memory below is
  // unreadable. OutOfRange when the instruction at RIP cannot be read.
  absl::StatusOr<AroundListing> DisassembleAround(
      ReadMemoryFn read, uint64_t rip, size_t before, size_t after,
      std::optional<uint64_t> function_start = std::nullopt) const;

 private:
  Disassembler(csh handle, cs_insn* scratch, CodeMode mode);

  // The length of the instruction at the start of `code`; 0 if the bytes
  // there are no instruction or it runs past the end of `code`.
  size_t LengthAt(std::span<const uint8_t> code) const;
  void Close();

  csh handle_ = 0;
  // One decode buffer reused for every instruction (cs_disasm_iter), which
  // spares Capstone an allocation per instruction.
  cs_insn* scratch_ = nullptr;
  CodeMode mode_ = CodeMode::k64;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEBUG_DISASSEMBLER_H_
