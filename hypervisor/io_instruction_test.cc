// DecodeIoInstruction: IN, OUT, INS and OUTS in every code mode, with the
// prefixes that change their operand and address sizes and those that do
// not, REX only in 64-bit mode, and what is not an I/O instruction (other
// opcodes, input that ends too soon, more than 15 bytes). MaskToAddressSize.
#include "hypervisor/io_instruction.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

// Compared as text, so a failure shows every field of both.
std::string Show(const std::optional<IoInstruction>& io) {
  if (!io) return "not I/O";
  return absl::StrFormat(
      "%s%s%s size %d address %d port %s length %d", io->in ? "in" : "out",
      io->string ? " string" : "", io->rep ? " rep" : "", io->element_size,
      io->address_size,
      io->port_in_dx ? std::string("dx")
                     : absl::StrFormat("0x%x", io->immediate_port),
      io->length);
}

std::string Decode(std::vector<uint8_t> bytes, CodeMode mode) {
  return Show(DecodeIoInstruction(bytes, mode));
}

TEST(DecodeIoInstructionTest, InImmediateInEveryMode) {
  EXPECT_EQ(Decode({0xe4, 0x60}, CodeMode::k16),
            "in size 1 address 2 port 0x60 length 2");
  EXPECT_EQ(Decode({0xe4, 0x60}, CodeMode::k32),
            "in size 1 address 4 port 0x60 length 2");
  EXPECT_EQ(Decode({0xe4, 0x60}, CodeMode::k64),
            "in size 1 address 8 port 0x60 length 2");
}

TEST(DecodeIoInstructionTest, OutImmediate) {
  EXPECT_EQ(Decode({0xe6, 0x80}, CodeMode::k32),
            "out size 1 address 4 port 0x80 length 2");
  EXPECT_EQ(Decode({0xe7, 0xff}, CodeMode::k32),
            "out size 4 address 4 port 0xff length 2");
}

TEST(DecodeIoInstructionTest, DxForms) {
  EXPECT_EQ(Decode({0xec}, CodeMode::k32),
            "in size 1 address 4 port dx length 1");
  EXPECT_EQ(Decode({0xed}, CodeMode::k32),
            "in size 4 address 4 port dx length 1");
  EXPECT_EQ(Decode({0xee}, CodeMode::k32),
            "out size 1 address 4 port dx length 1");
  EXPECT_EQ(Decode({0xef}, CodeMode::k32),
            "out size 4 address 4 port dx length 1");
}

TEST(DecodeIoInstructionTest, StringForms) {
  EXPECT_EQ(Decode({0x6c}, CodeMode::k64),
            "in string size 1 address 8 port dx length 1");
  EXPECT_EQ(Decode({0x6d}, CodeMode::k64),
            "in string size 4 address 8 port dx length 1");
  EXPECT_EQ(Decode({0x6e}, CodeMode::k64),
            "out string size 1 address 8 port dx length 1");
  EXPECT_EQ(Decode({0x6f}, CodeMode::k64),
            "out string size 4 address 8 port dx length 1");
}

TEST(DecodeIoInstructionTest, WideOperandSizeByModeAndOperandPrefix) {
  // 16-bit code: 2 bytes, 4 with 66. Otherwise 4, 2 with 66.
  for (uint8_t op : {0xed, 0xef, 0x6d, 0x6f}) {
    SCOPED_TRACE(absl::StrFormat("opcode 0x%x", op));
    EXPECT_EQ(DecodeIoInstruction(std::vector<uint8_t>{op}, CodeMode::k16)
                  ->element_size,
              2);
    EXPECT_EQ(DecodeIoInstruction(std::vector<uint8_t>{0x66, op}, CodeMode::k16)
                  ->element_size,
              4);
    EXPECT_EQ(DecodeIoInstruction(std::vector<uint8_t>{op}, CodeMode::k32)
                  ->element_size,
              4);
    EXPECT_EQ(DecodeIoInstruction(std::vector<uint8_t>{0x66, op}, CodeMode::k32)
                  ->element_size,
              2);
    EXPECT_EQ(DecodeIoInstruction(std::vector<uint8_t>{op}, CodeMode::k64)
                  ->element_size,
              4);
    EXPECT_EQ(DecodeIoInstruction(std::vector<uint8_t>{0x66, op}, CodeMode::k64)
                  ->element_size,
              2);
  }
  EXPECT_EQ(Decode({0xe5, 0x71}, CodeMode::k16),
            "in size 2 address 2 port 0x71 length 2");
  EXPECT_EQ(Decode({0x66, 0xe5, 0x71}, CodeMode::k16),
            "in size 4 address 2 port 0x71 length 3");
}

TEST(DecodeIoInstructionTest, ByteFormsIgnoreTheOperandPrefix) {
  EXPECT_EQ(Decode({0x66, 0xec}, CodeMode::k16),
            "in size 1 address 2 port dx length 2");
  EXPECT_EQ(Decode({0x66, 0x6e}, CodeMode::k32),
            "out string size 1 address 4 port dx length 2");
}

TEST(DecodeIoInstructionTest, AddressPrefixTogglesTheCounterWidth) {
  EXPECT_EQ(Decode({0x67, 0x6c}, CodeMode::k16),
            "in string size 1 address 4 port dx length 2");
  EXPECT_EQ(Decode({0x67, 0x6c}, CodeMode::k32),
            "in string size 1 address 2 port dx length 2");
  // 64-bit mode has no 16-bit addressing: 67 selects 32 bits.
  EXPECT_EQ(Decode({0x67, 0x6c}, CodeMode::k64),
            "in string size 1 address 4 port dx length 2");
}

TEST(DecodeIoInstructionTest, RepOnlyMarksStringInstructions) {
  EXPECT_EQ(Decode({0xf3, 0x6c}, CodeMode::k32),
            "in string rep size 1 address 4 port dx length 2");
  // F2 (REPNE) repeats INS/OUTS just as F3 does.
  EXPECT_EQ(Decode({0xf2, 0x6f}, CodeMode::k32),
            "out string rep size 4 address 4 port dx length 2");
  EXPECT_EQ(Decode({0xf3, 0xec}, CodeMode::k32),
            "in size 1 address 4 port dx length 2");
  EXPECT_EQ(Decode({0xf3, 0xe6, 0x80}, CodeMode::k32),
            "out size 1 address 4 port 0x80 length 3");
}

TEST(DecodeIoInstructionTest, PrefixesInAnyOrderCombine) {
  EXPECT_EQ(Decode({0x66, 0x67, 0xf3, 0x6d}, CodeMode::k16),
            "in string rep size 4 address 4 port dx length 4");
  EXPECT_EQ(Decode({0xf3, 0x67, 0x66, 0x6d}, CodeMode::k32),
            "in string rep size 2 address 2 port dx length 4");
}

TEST(DecodeIoInstructionTest, SegmentAndLockPrefixesCountOnlyInLength) {
  for (uint8_t prefix : {0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf0}) {
    SCOPED_TRACE(absl::StrFormat("prefix 0x%x", prefix));
    EXPECT_EQ(Decode({prefix, 0xf3, 0x6e}, CodeMode::k32),
              "out string rep size 1 address 4 port dx length 3");
  }
  EXPECT_EQ(Decode({0x2e, 0x3e, 0x64, 0xe5, 0x40}, CodeMode::k32),
            "in size 4 address 4 port 0x40 length 5");
}

TEST(DecodeIoInstructionTest, RexIn64BitModeDoesNotChangeTheSize) {
  // REX.W would make other instructions 64-bit; I/O stops at 32.
  EXPECT_EQ(Decode({0x48, 0xed}, CodeMode::k64),
            "in size 4 address 8 port dx length 2");
  EXPECT_EQ(Decode({0x4f, 0x6f}, CodeMode::k64),
            "out string size 4 address 8 port dx length 2");
  EXPECT_EQ(Decode({0x41, 0xec}, CodeMode::k64),
            "in size 1 address 8 port dx length 2");
  // Nor does it undo 66.
  EXPECT_EQ(Decode({0x66, 0x48, 0xed}, CodeMode::k64),
            "in size 2 address 8 port dx length 3");
  EXPECT_EQ(Decode({0xf3, 0x48, 0x6d}, CodeMode::k64),
            "in string rep size 4 address 8 port dx length 3");
  EXPECT_EQ(Decode({0x40, 0xe4, 0x21}, CodeMode::k64),
            "in size 1 address 8 port 0x21 length 3");
}

TEST(DecodeIoInstructionTest, RexBeforeALegacyPrefixIsIgnoredNotAnOpcode) {
  // The CPU ignores a REX that does not directly precede the opcode and
  // still executes the instruction.
  EXPECT_EQ(Decode({0x48, 0x66, 0xed}, CodeMode::k64),
            "in size 2 address 8 port dx length 3");
  EXPECT_EQ(Decode({0x48, 0xf3, 0x41, 0x6f}, CodeMode::k64),
            "out string rep size 4 address 8 port dx length 4");
}

TEST(DecodeIoInstructionTest, RexBytesAreOpcodesOutside64BitMode) {
  // 40-4f are INC/DEC there: the instruction is not I/O.
  for (uint8_t b : {0x40, 0x48, 0x4f}) {
    SCOPED_TRACE(absl::StrFormat("byte 0x%x", b));
    EXPECT_EQ(Decode({b, 0xec}, CodeMode::k32), "not I/O");
    EXPECT_EQ(Decode({b, 0xed}, CodeMode::k16), "not I/O");
    EXPECT_EQ(Decode({0x66, b, 0xed}, CodeMode::k32), "not I/O");
  }
}

TEST(DecodeIoInstructionTest, BytesAfterTheInstructionAreNotPartOfIt) {
  EXPECT_EQ(Decode({0xec, 0xec, 0x90}, CodeMode::k32),
            "in size 1 address 4 port dx length 1");
  EXPECT_EQ(Decode({0xe4, 0x60, 0xe4}, CodeMode::k32),
            "in size 1 address 4 port 0x60 length 2");
}

TEST(DecodeIoInstructionTest, InputEndingTooSoonIsNotDecoded) {
  EXPECT_EQ(Decode({}, CodeMode::k32), "not I/O");
  EXPECT_EQ(Decode({0x66}, CodeMode::k32), "not I/O");
  EXPECT_EQ(Decode({0xf3, 0x67}, CodeMode::k32), "not I/O");
  EXPECT_EQ(Decode({0x48}, CodeMode::k64), "not I/O");
  // The immediate port is missing.
  EXPECT_EQ(Decode({0xe4}, CodeMode::k32), "not I/O");
  EXPECT_EQ(Decode({0x66, 0xe7}, CodeMode::k16), "not I/O");
}

TEST(DecodeIoInstructionTest, OtherOpcodesAreNotIo) {
  // The opcodes next to the I/O ones, and some common ones.
  for (uint8_t op : {0x6b, 0x70, 0xe3, 0xe8, 0xeb, 0x90, 0xcc, 0xf4, 0x0f}) {
    SCOPED_TRACE(absl::StrFormat("opcode 0x%x", op));
    EXPECT_EQ(Decode({op, 0x00, 0x00, 0x00, 0x00}, CodeMode::k32), "not I/O");
    EXPECT_EQ(Decode({0xf3, op, 0x00, 0x00, 0x00, 0x00}, CodeMode::k64),
              "not I/O");
  }
}

std::vector<uint8_t> Prefixed(size_t prefixes, std::vector<uint8_t> rest) {
  std::vector<uint8_t> bytes(prefixes, 0x2e);
  bytes.insert(bytes.end(), rest.begin(), rest.end());
  return bytes;
}

TEST(DecodeIoInstructionTest, FifteenBytesAtMost) {
  EXPECT_EQ(Decode(Prefixed(14, {0xec}), CodeMode::k32),
            "in size 1 address 4 port dx length 15");
  EXPECT_EQ(Decode(Prefixed(15, {0xec}), CodeMode::k32), "not I/O");
  // An immediate that would be the 16th byte.
  EXPECT_EQ(Decode(Prefixed(13, {0xe4, 0x60}), CodeMode::k32),
            "in size 1 address 4 port 0x60 length 15");
  EXPECT_EQ(Decode(Prefixed(14, {0xe4, 0x60}), CodeMode::k32), "not I/O");
  // REX counts too.
  EXPECT_EQ(Decode(Prefixed(13, {0x48, 0xed}), CodeMode::k64),
            "in size 4 address 8 port dx length 15");
  EXPECT_EQ(Decode(Prefixed(14, {0x48, 0xed}), CodeMode::k64), "not I/O");
}

TEST(MaskToAddressSizeTest, KeepsTheCounterWidth) {
  constexpr uint64_t kCount = 0x123456789abcdef0;
  EXPECT_EQ(MaskToAddressSize(kCount, 2), 0xdef0u);
  EXPECT_EQ(MaskToAddressSize(kCount, 4), 0x9abcdef0u);
  EXPECT_EQ(MaskToAddressSize(kCount, 8), kCount);
  // A REP with CX = 0 does nothing, whatever ECX's upper half holds.
  EXPECT_EQ(MaskToAddressSize(0x10000, 2), 0u);
  EXPECT_EQ(MaskToAddressSize(0x100000000, 4), 0u);
  EXPECT_EQ(MaskToAddressSize(0x100000000, 8), 0x100000000u);
}

}  // namespace
}  // namespace xv
