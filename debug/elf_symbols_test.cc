#include "debug/elf_symbols.h"

#include <elf.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/runfiles.h"

namespace xv {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

std::vector<uint8_t> ReadRunfile(const std::string& path) {
  return testing::ReadFileBytes(testing::RunfilePath(path));
}

// The line of testdata/line_program.c whose comment holds `marker`.
int MarkerLine(const std::string& marker) {
  std::ifstream in(testing::RunfilePath("debug/testdata/line_program.c"));
  std::string text;
  for (int number = 1; std::getline(in, text); ++number) {
    if (absl::StrContains(text, "marker: " + marker)) return number;
  }
  ADD_FAILURE() << "no line marked '" << marker << "'";
  return -1;
}

template <typename T>
T Load(const std::vector<uint8_t>& image, size_t offset) {
  T value;
  std::memcpy(&value, image.data() + offset, sizeof(T));
  return value;
}

template <typename T>
void Store(std::vector<uint8_t>& image, size_t offset, const T& value) {
  std::memcpy(image.data() + offset, &value, sizeof(T));
}

// Offset of the first ELF64 section header of `type`.
size_t SectionHeaderOffset(const std::vector<uint8_t>& image, uint32_t type) {
  const auto header = Load<Elf64_Ehdr>(image, 0);
  for (size_t i = 0; i < header.e_shnum; ++i) {
    const size_t at = header.e_shoff + i * header.e_shentsize;
    if (Load<Elf64_Shdr>(image, at).sh_type == type) return at;
  }
  ADD_FAILURE() << "no section of type " << type;
  return 0;
}

TEST(ElfSymbolsTest, GuestKernelFunctionsByNameAndAddress) {
  const std::vector<uint8_t> image = ReadRunfile("guest/hello.elf");
  absl::StatusOr<ElfSymbols> symbols = ElfSymbols::Parse(image);
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  // Multiboot wants ELF32; the code inside is 64-bit.
  EXPECT_FALSE(symbols->is_elf64());
  ASSERT_TRUE(symbols->has_symbols());

  const std::optional<uint64_t> main = symbols->Find("xv_main");
  ASSERT_TRUE(main.has_value());
  std::optional<SymbolAt> at = symbols->Lookup(*main + 5);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->name, "xv_main");
  EXPECT_EQ(at->start, *main);
  EXPECT_EQ(at->offset, 5u);
  EXPECT_GT(at->size, 5u);
  at = symbols->Lookup(*main);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->name, "xv_main");
  EXPECT_EQ(at->offset, 0u);

  // Labels in the SDK's assembly have no size: the nearest one below counts.
  const std::optional<uint64_t> entry = symbols->Find("long_mode_entry");
  ASSERT_TRUE(entry.has_value());
  at = symbols->Lookup(*entry + 2);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->name, "long_mode_entry");
  EXPECT_EQ(at->offset, 2u);
  EXPECT_EQ(at->size, 0u);

  EXPECT_FALSE(symbols->Find("no_such_symbol").has_value());
  EXPECT_FALSE(symbols->Lookup(0).has_value());

  // Built without -g today; once the kernels carry DWARF, lines must work.
  if (symbols->has_line_info()) {
    const std::optional<SourceLine> line = symbols->LineAt(*main);
    ASSERT_TRUE(line.has_value());
    EXPECT_THAT(line->file, EndsWith("hello.c"));
  } else {
    EXPECT_FALSE(symbols->LineAt(*main).has_value());
  }
}

TEST(ElfSymbolsTest, StrippedGuestKernelHasNoSymbols) {
  absl::StatusOr<ElfSymbols> symbols =
      ElfSymbols::Parse(ReadRunfile("debug/testdata/hello_stripped.elf"));
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  EXPECT_FALSE(symbols->has_symbols());
  EXPECT_FALSE(symbols->has_line_info());
  EXPECT_FALSE(symbols->Find("xv_main").has_value());
  EXPECT_FALSE(symbols->Lookup(0x104000).has_value());
}

class LineProgramTest : public ::testing::TestWithParam<const char*> {};

TEST_P(LineProgramTest, SymbolsAndLines) {
  absl::StatusOr<ElfSymbols> symbols =
      ElfSymbols::Parse(ReadRunfile(GetParam()));
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  EXPECT_EQ(symbols->is_elf64(), !absl::StrContains(GetParam(), "32"));
  ASSERT_TRUE(symbols->has_symbols());

  const std::optional<uint64_t> bump = symbols->Find("bump");
  const std::optional<uint64_t> start = symbols->Find("_start");
  const std::optional<uint64_t> table = symbols->Find("table");
  ASSERT_TRUE(bump.has_value() && start.has_value() && table.has_value());
  std::optional<SymbolAt> at = symbols->Lookup(*table + 8);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->name, "table");
  EXPECT_EQ(at->offset, 8u);
  at = symbols->Lookup(*bump + 1);
  ASSERT_TRUE(at.has_value());
  EXPECT_EQ(at->name, "bump");

  ASSERT_TRUE(symbols->has_line_info()) << symbols->line_info_status();
  EXPECT_TRUE(symbols->line_info_status().ok());
  const std::optional<SourceLine> first = symbols->LineAt(*bump);
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(first->file, EndsWith("line_program.c"));
  EXPECT_EQ(first->line, MarkerLine("bump starts"));

  // Somewhere inside bump is its body's line.
  bool body_seen = false;
  for (uint64_t a = *bump; a < *bump + at->size; ++a) {
    const std::optional<SourceLine> line = symbols->LineAt(a);
    ASSERT_TRUE(line.has_value()) << "at 0x" << std::hex << a;
    body_seen |= line->line == MarkerLine("bump body");
  }
  EXPECT_TRUE(body_seen);

  // Data has no line.
  EXPECT_FALSE(symbols->LineAt(*table).has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Elf64AndElf32, LineProgramTest,
    ::testing::Values("debug/testdata/line_program.elf",
                      "debug/testdata/line_program32.elf"));

TEST(ElfSymbolsTest, StrippedProgramHasNeitherSymbolsNorLines) {
  absl::StatusOr<ElfSymbols> symbols = ElfSymbols::Parse(
      ReadRunfile("debug/testdata/line_program_stripped.elf"));
  ASSERT_TRUE(symbols.ok()) << symbols.status();
  EXPECT_FALSE(symbols->has_symbols());
  EXPECT_FALSE(symbols->has_line_info());
  EXPECT_TRUE(symbols->line_info_status().ok());
}

void ExpectError(const std::vector<uint8_t>& image, const std::string& what) {
  absl::StatusOr<ElfSymbols> symbols = ElfSymbols::Parse(image);
  ASSERT_FALSE(symbols.ok()) << "expected an error saying: " << what;
  EXPECT_EQ(symbols.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(symbols.status().message()), HasSubstr(what));
}

TEST(ElfSymbolsTest, TruncatedImagesNameWhatIsMissing) {
  const std::vector<uint8_t> image = ReadRunfile("guest/hello.elf");
  ASSERT_GT(image.size(), 100u);
  ExpectError({}, "too short to be ELF");
  ExpectError({image.begin(), image.begin() + 40},
              "shorter than its ELF header");
  // The section headers come last in the file.
  ExpectError({image.begin(), image.begin() + image.size() / 2},
              "section header table");
  ExpectError({image.begin(), image.end() - 1}, "runs past the end");
}

TEST(ElfSymbolsTest, MalformedImagesNameTheProblem) {
  const std::vector<uint8_t> good =
      ReadRunfile("debug/testdata/line_program.elf");
  ASSERT_TRUE(ElfSymbols::Parse(good).ok());

  std::vector<uint8_t> image = good;
  image[1] = 'X';
  ExpectError(image, "not an ELF image");

  image = good;
  image[EI_DATA] = ELFDATA2MSB;
  ExpectError(image, "little-endian");

  image = good;
  image[EI_CLASS] = 7;
  ExpectError(image, "unknown class 7");

  image = good;
  Store<Elf64_Half>(image, offsetof(Elf64_Ehdr, e_shentsize), 8);
  ExpectError(image, "section header entries of 8 bytes");

  image = good;
  const size_t symtab = SectionHeaderOffset(good, SHT_SYMTAB);
  Store<Elf64_Off>(image, symtab + offsetof(Elf64_Shdr, sh_offset),
                   good.size() - 4);
  ExpectError(image, "runs past the end of the image");

  image = good;
  Store<Elf64_Word>(image, symtab + offsetof(Elf64_Shdr, sh_link), 999);
  ExpectError(image, "names string table section 999");

  image = good;
  Store<Elf64_Xword>(image, symtab + offsetof(Elf64_Shdr, sh_entsize), 4);
  ExpectError(image, "entries of 4 bytes");

  image = good;
  const auto table = Load<Elf64_Shdr>(good, symtab);
  Store<Elf64_Word>(image, table.sh_offset + table.sh_entsize, 0xfffffff0u);
  ExpectError(image, "symbol 1 of section");
}

// Whatever the damage, Parse() returns (an error or symbols), and what it
// returns can be used.
TEST(ElfSymbolsTest, DamagedImagesNeverCrash) {
  const std::vector<uint8_t> good =
      ReadRunfile("debug/testdata/line_program.elf");
  auto exercise = [](const std::vector<uint8_t>& image) {
    absl::StatusOr<ElfSymbols> symbols = ElfSymbols::Parse(image);
    if (!symbols.ok()) return;
    for (uint64_t a = 0x400000; a < 0x401100; a += 7) {
      symbols->Lookup(a);
      symbols->LineAt(a);
    }
    symbols->Find("bump");
  };
  for (size_t size = 0; size < good.size(); ++size) {
    exercise({good.begin(), good.begin() + size});
  }
  // Every byte of the ELF header and the section header table, flipped.
  const auto header = Load<Elf64_Ehdr>(good, 0);
  std::vector<size_t> offsets;
  for (size_t i = 0; i < sizeof(Elf64_Ehdr); ++i) offsets.push_back(i);
  for (size_t i = 0; i < size_t{header.e_shnum} * header.e_shentsize; ++i) {
    offsets.push_back(header.e_shoff + i);
  }
  for (size_t offset : offsets) {
    for (uint8_t flip : {uint8_t{0xff}, uint8_t{0x80}, uint8_t{0x01}}) {
      std::vector<uint8_t> image = good;
      image[offset] ^= flip;
      exercise(image);
    }
  }
}

}  // namespace
}  // namespace xv
