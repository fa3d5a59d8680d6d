#include "hypervisor/io_instruction.h"

namespace xv {
namespace {

// Prefixes that change nothing this decoder reports: lock, the segment
// overrides, and in 64-bit mode REX (its W does not widen I/O beyond 32
// bits, and a REX not right before the opcode is ignored by the CPU).
bool IgnoredPrefix(uint8_t b, CodeMode mode) {
  switch (b) {
    case 0xf0:
    case 0x26:
    case 0x2e:
    case 0x36:
    case 0x3e:
    case 0x64:
    case 0x65:
      return true;
    default:
      return mode == CodeMode::k64 && (b & 0xf0) == 0x40;
  }
}

}  // namespace

std::optional<IoInstruction> DecodeIoInstruction(std::span<const uint8_t> bytes,
                                                 CodeMode mode) {
  constexpr size_t kMaxLength = 15;
  bool operand_override = false;
  bool address_override = false;
  bool rep = false;
  size_t i = 0;
  // Legacy prefixes, any order (REX among them in 64-bit mode).
  for (; i < bytes.size() && i < kMaxLength; ++i) {
    const uint8_t b = bytes[i];
    if (b == 0x66) {
      operand_override = true;
    } else if (b == 0x67) {
      address_override = true;
    } else if (b == 0xf2 || b == 0xf3) {
      rep = true;
    } else if (!IgnoredPrefix(b, mode)) {
      break;
    }
  }
  if (i >= bytes.size() || i >= kMaxLength) return std::nullopt;

  IoInstruction io;
  const uint8_t op = bytes[i++];
  const bool wide_default = mode != CodeMode::k16;
  const uint8_t wide_size = (wide_default != operand_override) ? 4 : 2;
  switch (op) {
    case 0xe4:
    case 0xe5:
    case 0xe6:
    case 0xe7:
      // The immediate too must lie within the 15-byte limit.
      if (i >= bytes.size() || i >= kMaxLength) return std::nullopt;
      io.immediate_port = bytes[i++];
      io.in = op <= 0xe5;
      io.element_size = (op & 1) ? wide_size : 1;
      break;
    case 0xec:
    case 0xed:
    case 0xee:
    case 0xef:
      io.port_in_dx = true;
      io.in = op <= 0xed;
      io.element_size = (op & 1) ? wide_size : 1;
      break;
    case 0x6c:
    case 0x6d:
    case 0x6e:
    case 0x6f:
      io.port_in_dx = true;
      io.string = true;
      io.rep = rep;
      io.in = op <= 0x6d;
      io.element_size = (op & 1) ? wide_size : 1;
      break;
    default:
      return std::nullopt;
  }
  switch (mode) {
    case CodeMode::k16:
      io.address_size = address_override ? 4 : 2;
      break;
    case CodeMode::k32:
      io.address_size = address_override ? 2 : 4;
      break;
    case CodeMode::k64:
      io.address_size = address_override ? 4 : 8;
      break;
  }
  io.length = static_cast<uint8_t>(i);
  return io;
}

uint64_t MaskToAddressSize(uint64_t count, uint8_t address_size) {
  switch (address_size) {
    case 2:
      return count & 0xffff;
    case 4:
      return count & 0xffffffff;
    default:
      return count;
  }
}

}  // namespace xv
