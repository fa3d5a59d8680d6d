// Decoding of the port I/O instructions (IN, OUT, INS, OUTS with their
// prefixes), for backends that must know which one made an exit to keep
// the string-I/O rule (string_io.h).
#ifndef EXTRAVIRT_HYPERVISOR_IO_INSTRUCTION_H_
#define EXTRAVIRT_HYPERVISOR_IO_INSTRUCTION_H_

#include <cstdint>
#include <optional>
#include <span>

namespace xv {

// What decides default operand and address sizes.
enum class CodeMode : uint8_t {
  k16,  // real mode, or a 16-bit code segment
  k32,  // a 32-bit code segment
  k64,  // 64-bit mode (long mode, CS.L=1)
};

struct IoInstruction {
  bool in = false;
  bool string = false;       // INS/OUTS
  bool rep = false;          // F2 or F3 on a string instruction
  uint8_t element_size = 1;  // 1, 2 or 4 bytes
  uint8_t address_size = 8;  // 2, 4 or 8 bytes: RCX/RSI/RDI width
  bool port_in_dx = false;   // else `immediate_port`
  uint8_t immediate_port = 0;
  uint8_t length = 0;  // bytes, prefixes included
};

// Decodes the instruction starting at bytes[0] if it is a port I/O
// instruction; nullopt otherwise (including when `bytes` ends too soon).
std::optional<IoInstruction> DecodeIoInstruction(std::span<const uint8_t> bytes,
                                                 CodeMode mode);

// `count` reduced to the instruction's address size (what a REP prefix
// counts with).
uint64_t MaskToAddressSize(uint64_t count, uint8_t address_size);

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_IO_INSTRUCTION_H_
