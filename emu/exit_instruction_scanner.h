// Finds, in a block of guest code about to be translated, the instructions
// that make exits (port I/O and HLT). The emulator never lets Unicorn
// execute them: it stops in front of each (a code hook on its address) and
// carries it out itself, which is how its exits land exactly where KVM's do
// without stopping inside an I/O callback (EMULATOR-NOTES.md).
#ifndef EXTRAVIRT_EMU_EXIT_INSTRUCTION_SCANNER_H_
#define EXTRAVIRT_EMU_EXIT_INSTRUCTION_SCANNER_H_

#include <capstone/capstone.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hypervisor/io_instruction.h"

namespace xv {

struct ExitInstruction {
  enum class Kind : uint8_t { kPortIo, kHlt };
  uint64_t address = 0;
  uint8_t length = 0;
  Kind kind = Kind::kPortIo;
};

class ExitInstructionScanner {
 public:
  static absl::StatusOr<ExitInstructionScanner> Create();
  ExitInstructionScanner(ExitInstructionScanner&& other) noexcept;
  ExitInstructionScanner& operator=(ExitInstructionScanner&&) = delete;
  ~ExitInstructionScanner();

  // The exit instructions among those decoded from `code` (guest bytes
  // starting at linear `address`) in `mode`. Decoding stops at the first
  // bytes that are no instruction (the CPU will fault there).
  std::vector<ExitInstruction> Scan(uint64_t address,
                                    std::span<const uint8_t> code,
                                    CodeMode mode) const;

  // For an instruction the emulated CPU refused (#UD): its text when it is
  // a real instruction other than UD0/UD2 (the emulator lacks it:
  // not the guest's fault), nullopt when the bytes are no instruction or a
  // deliberate UD0/UD2 (UD2B = UD1 to Capstone).
  std::optional<std::string> DescribeUnexecutable(std::span<const uint8_t> code,
                                                  CodeMode mode) const;

 private:
  csh Handle(CodeMode mode) const;
  ExitInstructionScanner(csh cs16, csh cs32, csh cs64)
      : cs16_(cs16), cs32_(cs32), cs64_(cs64) {}
  csh cs16_ = 0, cs32_ = 0, cs64_ = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_EMU_EXIT_INSTRUCTION_SCANNER_H_
