#include "debug/disassembler.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "debug/elf_symbols.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/runfiles.h"

namespace xv {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Disassembler Make(CodeMode mode, AsmSyntax syntax = AsmSyntax::kIntel) {
  absl::StatusOr<Disassembler> d = Disassembler::Create(mode, syntax);
  EXPECT_TRUE(d.ok()) << d.status();
  return *std::move(d);
}

std::vector<std::string> Texts(const std::vector<Instruction>& listing) {
  std::vector<std::string> texts;
  for (const Instruction& i : listing) texts.push_back(i.Text());
  return texts;
}

std::vector<uint64_t> Addresses(const std::vector<Instruction>& listing) {
  std::vector<uint64_t> addresses;
  for (const Instruction& i : listing) addresses.push_back(i.address);
  return addresses;
}

// Guest memory for tests: readable bytes at fixed addresses, unreadable
// elsewhere; a read stops at the first unreadable byte, as a guest page walk
// does.
class FakeMemory {
 public:
  void Put(uint64_t address, const std::vector<uint8_t>& bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) bytes_[address + i] = bytes[i];
  }

  size_t Read(uint64_t address, std::span<uint8_t> out) const {
    size_t n = 0;
    for (; n < out.size(); ++n) {
      auto it = bytes_.find(address + n);
      if (it == bytes_.end()) break;
      out[n] = it->second;
    }
    return n;
  }

  // A callable to pass where a ReadMemoryFn is wanted (which only refers to
  // it: it must outlive the call).
  auto reader() const {
    return [this](uint64_t address, std::span<uint8_t> out) {
      return Read(address, out);
    };
  }

 private:
  std::map<uint64_t, uint8_t> bytes_;
};

TEST(DisassemblerTest, Decodes64BitCode) {
  const Disassembler d = Make(CodeMode::k64);
  const std::vector<uint8_t> code = {0x48, 0x89, 0xd8, 0xf4, 0xe6, 0xe9};
  const std::vector<Instruction> listing = d.Decode(code, 0x1000, 10);
  EXPECT_THAT(Texts(listing),
              ElementsAre("mov rax, rbx", "hlt", "out 0xe9, al"));
  EXPECT_THAT(Addresses(listing), ElementsAre(0x1000, 0x1003, 0x1004));
  ASSERT_EQ(listing.size(), 3u);
  EXPECT_THAT(listing[0].bytes, ElementsAre(0x48, 0x89, 0xd8));
  EXPECT_EQ(listing[1].mnemonic, "hlt");
  EXPECT_EQ(listing[1].operands, "");
}

TEST(DisassemblerTest, Decodes32And16BitCode) {
  const std::vector<uint8_t> code = {0x48, 0x89, 0xd8, 0xf4, 0xe6, 0xe9};
  // 0x48 is a REX prefix only in 64-bit mode; elsewhere it is DEC.
  EXPECT_THAT(Texts(Make(CodeMode::k32).Decode(code, 0, 10)),
              ElementsAre("dec eax", "mov eax, ebx", "hlt", "out 0xe9, al"));
  EXPECT_THAT(Texts(Make(CodeMode::k16).Decode(code, 0, 10)),
              ElementsAre("dec ax", "mov ax, bx", "hlt", "out 0xe9, al"));
}

TEST(DisassemblerTest, AttSyntaxForGdbUsers) {
  const Disassembler d = Make(CodeMode::k64, AsmSyntax::kAtt);
  const std::vector<uint8_t> code = {0x48, 0x89, 0xd8, 0xf4, 0xe6, 0xe9};
  EXPECT_THAT(Texts(d.Decode(code, 0, 10)),
              ElementsAre("movq %rbx, %rax", "hlt", "outb %al, $0xe9"));
}

TEST(DisassemblerTest, StopsAtBadBytesAndAtTheEnd) {
  const Disassembler d = Make(CodeMode::k64);
  // ff /7 is no instruction.
  std::vector<Instruction> listing =
      d.Decode(std::vector<uint8_t>{0x90, 0xff, 0xff, 0x90}, 0x10, 10);
  EXPECT_THAT(Texts(listing), ElementsAre("nop", "(bad)"));
  ASSERT_EQ(listing.size(), 2u);
  EXPECT_EQ(listing[1].address, 0x11u);
  EXPECT_THAT(listing[1].bytes, ElementsAre(0xff));

  // A movabs cut off by the end of the bytes is not bad, just incomplete.
  listing = d.Decode(std::vector<uint8_t>{0x90, 0x48, 0xb8, 0x01, 0x02}, 0, 10);
  EXPECT_THAT(Texts(listing), ElementsAre("nop"));

  EXPECT_EQ(d.Decode(std::vector<uint8_t>{0x90, 0x90, 0x90}, 0, 2).size(), 2u);
  EXPECT_TRUE(d.Decode({}, 0, 2).empty());
}

TEST(DisassemblerTest, MovesOwnership) {
  Disassembler a = Make(CodeMode::k64);
  Disassembler b = std::move(a);
  Disassembler c = Make(CodeMode::k32);
  c = std::move(b);
  EXPECT_EQ(c.mode(), CodeMode::k64);
  EXPECT_THAT(Texts(c.Decode(std::vector<uint8_t>{0xf4}, 0, 1)),
              ElementsAre("hlt"));
}

// A function at 0x1000 whose movabs immediate is eight NOPs: decoding from
// inside the immediate also lands on RIP, with a longer run than from the
// function's start. Below it, bytes that are no instruction in 64-bit mode.
FakeMemory TrickyFunction() {
  FakeMemory memory;
  memory.Put(0xf00, std::vector<uint8_t>(0x100, 0x06));  // push es: invalid
  memory.Put(0x1000, {
                         0x55,                    // 1000 push rbp
                         0x48, 0x89, 0xe5,        // 1001 mov rbp, rsp
                         0x48, 0xb8, 0x90, 0x90,  // 1004 movabs rax, ...
                         0x90, 0x90, 0x90, 0x90,  //
                         0x90, 0x90,              //
                         0x48, 0x89, 0xd8,        // 100e mov rax, rbx
                         0xe6, 0xe9,              // 1011 out 0xe9, al
                         0xf4,                    // 1013 hlt
                         0xc3,                    // 1014 ret
                     });
  return memory;
}

TEST(DisassembleAroundTest, FunctionStartGivesTheTrueBoundaries) {
  const Disassembler d = Make(CodeMode::k64);
  const FakeMemory memory = TrickyFunction();
  absl::StatusOr<AroundListing> around =
      d.DisassembleAround(memory.reader(), 0x1011, 3, 2, 0x1000);
  ASSERT_TRUE(around.ok()) << around.status();
  EXPECT_THAT(Addresses(around->instructions),
              ElementsAre(0x1001, 0x1004, 0x100e, 0x1011, 0x1013, 0x1014));
  EXPECT_EQ(around->rip_index, 3u);
  EXPECT_EQ(around->instructions[3].Text(), "out 0xe9, al");
  EXPECT_EQ(around->instructions[1].Text(), "movabs rax, 0x9090909090909090");

  // Fewer before RIP than asked for: nothing decodes below the function.
  around = d.DisassembleAround(memory.reader(), 0x1011, 10, 0, 0x1000);
  ASSERT_TRUE(around.ok()) << around.status();
  EXPECT_THAT(Addresses(around->instructions),
              ElementsAre(0x1000, 0x1001, 0x1004, 0x100e, 0x1011));
  EXPECT_EQ(around->rip_index, 4u);
}

TEST(DisassembleAroundTest, WithoutFunctionStartTheLongestRunLandsOnRip) {
  const Disassembler d = Make(CodeMode::k64);
  const FakeMemory memory = TrickyFunction();
  // A start that does not land on RIP is ignored, like no start at all.
  for (std::optional<uint64_t> start :
       {std::optional<uint64_t>(), std::optional<uint64_t>(0xfff)}) {
    absl::StatusOr<AroundListing> around =
        d.DisassembleAround(memory.reader(), 0x1011, 3, 1, start);
    ASSERT_TRUE(around.ok()) << around.status();
    // The run out of the immediate: two of its NOPs, then in step.
    EXPECT_THAT(Addresses(around->instructions),
                ElementsAre(0x100c, 0x100d, 0x100e, 0x1011, 0x1013));
    EXPECT_EQ(around->rip_index, 3u);
  }
}

TEST(DisassembleAroundTest, UnreadableMemory) {
  const Disassembler d = Make(CodeMode::k64);
  FakeMemory memory;
  // Readable from a page boundary on: the window below RIP reaches under it.
  memory.Put(0x2000, {0x90, 0x90, 0x48, 0x89, 0xd8, 0xf4});
  absl::StatusOr<AroundListing> around =
      d.DisassembleAround(memory.reader(), 0x2005, 10, 5);
  ASSERT_TRUE(around.ok()) << around.status();
  EXPECT_THAT(Texts(around->instructions),
              ElementsAre("nop", "nop", "mov rax, rbx", "hlt"));
  EXPECT_EQ(around->rip_index, 3u);

  around = d.DisassembleAround(memory.reader(), 0x3000, 2, 2);
  ASSERT_FALSE(around.ok());
  EXPECT_EQ(around.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(around.status().message()), HasSubstr("0x3000"));

  // The instruction at RIP crosses into unreadable memory.
  memory.Put(0x4000, {0x48, 0xb8, 0x01});
  around = d.DisassembleAround(memory.reader(), 0x4000, 2, 2);
  ASSERT_FALSE(around.ok());
  EXPECT_THAT(std::string(around.status().message()),
              HasSubstr("runs into unreadable memory"));

  // At address 0 there is nothing below.
  memory.Put(0, {0xf4});
  around = d.DisassembleAround(memory.reader(), 0, 3, 0);
  ASSERT_TRUE(around.ok()) << around.status();
  EXPECT_THAT(Texts(around->instructions), ElementsAre("hlt"));
  EXPECT_EQ(around->rip_index, 0u);
}

// A kernel image loaded as its program headers say.
template <typename Ehdr, typename Phdr>
FakeMemory Load(const std::vector<uint8_t>& image) {
  FakeMemory memory;
  Ehdr header;
  std::memcpy(&header, image.data(), sizeof(header));
  for (size_t i = 0; i < header.e_phnum; ++i) {
    Phdr segment;
    std::memcpy(&segment, image.data() + header.e_phoff + i * sizeof(Phdr),
                sizeof(segment));
    if (segment.p_type != PT_LOAD) continue;
    memory.Put(segment.p_vaddr,
               {image.begin() + segment.p_offset,
                image.begin() + segment.p_offset + segment.p_filesz});
  }
  return memory;
}

// Compiled code of a real guest kernel: at every instruction of a large
// function, the listing around it equals a linear decode of the function.
TEST(DisassembleAroundTest, GuestKernelFunction) {
  const std::vector<uint8_t> image =
      testing::ReadFileBytes(testing::GuestPath("hello"));
  const FakeMemory memory = Load<Elf32_Ehdr, Elf32_Phdr>(image);
  absl::StatusOr<ElfSymbols> symbols = ElfSymbols::Parse(image);
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  const std::optional<uint64_t> start = symbols->Find("xv_vformat");
  ASSERT_TRUE(start.has_value());
  const std::optional<SymbolAt> function = symbols->Lookup(*start);
  ASSERT_TRUE(function.has_value());
  ASSERT_GT(function->size, 1000u);

  const Disassembler d = Make(CodeMode::k64);
  std::vector<uint8_t> code(function->size);
  ASSERT_EQ(memory.Read(*start, code), code.size());
  const std::vector<Instruction> truth = d.Decode(code, *start, code.size());
  ASSERT_GT(truth.size(), 100u);
  ASSERT_NE(truth.back().mnemonic, "(bad)");

  constexpr size_t kBefore = 6;
  constexpr size_t kAfter = 2;
  size_t in_step_without_start = 0;
  for (size_t k = 0; k + kAfter < truth.size(); ++k) {
    const uint64_t rip = truth[k].address;
    absl::StatusOr<AroundListing> around =
        d.DisassembleAround(memory.reader(), rip, kBefore, kAfter, *start);
    ASSERT_TRUE(around.ok()) << around.status();
    // Near the entry, the listing goes on into the code before the
    // function (the end of another one).
    ASSERT_EQ(around->rip_index, kBefore) << "rip 0x" << std::hex << rip;
    const size_t first = k >= kBefore ? k - kBefore : 0;
    const std::vector<Instruction> tail(
        around->instructions.end() - (k - first + 1 + kAfter),
        around->instructions.end());
    ASSERT_EQ(Addresses(tail), Addresses({truth.begin() + first,
                                          truth.begin() + k + kAfter + 1}))
        << "rip 0x" << std::hex << rip;

    // Without the symbol the listing still lands on RIP, and nearly always
    // agrees with the truth (x86 decoding falls into step quickly).
    around = d.DisassembleAround(memory.reader(), rip, kBefore, kAfter);
    ASSERT_TRUE(around.ok()) << around.status();
    const std::vector<Instruction>& listing = around->instructions;
    ASSERT_EQ(listing[around->rip_index].address, rip);
    for (size_t i = 0; i + 1 < listing.size(); ++i) {
      ASSERT_EQ(listing[i].address + listing[i].bytes.size(),
                listing[i + 1].address);
    }
    if (k >= kBefore && around->rip_index == kBefore &&
        listing.front().address == truth[k - kBefore].address) {
      ++in_step_without_start;
    }
  }
  EXPECT_GE(in_step_without_start * 10, (truth.size() - kBefore) * 9)
      << in_step_without_start << " of " << truth.size() - kBefore;
}

}  // namespace
}  // namespace xv
