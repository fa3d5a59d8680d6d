// Every guest image is what multiboot loaders (QEMU's, xvirt's) take: a
// 32-bit ELF executable with one PT_LOAD segment at 1 MiB, its entry inside
// it, and a valid multiboot v1 header in the first 8 KiB that asks for the
// memory map and leaves the load addresses to the ELF headers.
#include <elf.h>

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/runfiles.h"

namespace xv::guest_testing {
namespace {

using ::xv::testing::GuestPath;
using ::xv::testing::ReadFileBytes;

constexpr uint32_t kMultibootMagic = 0x1BADB002;
constexpr uint32_t kMultibootMemoryInfo = 1u << 1;
constexpr uint32_t kMultibootAoutKludge = 1u << 16;
constexpr uint32_t kMultibootSearchBytes = 8192;
constexpr uint32_t kLoadAddress = 0x100000;

template <typename T>
T Read(const std::vector<uint8_t>& bytes, size_t offset) {
  T value{};
  if (offset + sizeof(T) <= bytes.size()) {
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
  }
  return value;
}

class ImageFormatTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ImageFormatTest, IsAMultibootElf32) {
  std::vector<uint8_t> image = ReadFileBytes(GuestPath(GetParam()));
  ASSERT_GE(image.size(), sizeof(Elf32_Ehdr));
  auto ehdr = Read<Elf32_Ehdr>(image, 0);
  ASSERT_EQ(std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(ehdr.e_ident[EI_CLASS], ELFCLASS32);
  EXPECT_EQ(ehdr.e_ident[EI_DATA], ELFDATA2LSB);
  EXPECT_EQ(ehdr.e_type, ET_EXEC);
  EXPECT_EQ(ehdr.e_machine, EM_386);

  std::vector<Elf32_Phdr> loads;
  for (int i = 0; i < ehdr.e_phnum; i++) {
    auto phdr = Read<Elf32_Phdr>(image, ehdr.e_phoff + i * ehdr.e_phentsize);
    if (phdr.p_type == PT_LOAD) loads.push_back(phdr);
  }
  ASSERT_EQ(loads.size(), 1u);
  const Elf32_Phdr& load = loads[0];
  EXPECT_EQ(load.p_paddr, kLoadAddress);
  EXPECT_EQ(load.p_vaddr, load.p_paddr);
  EXPECT_GE(load.p_memsz, load.p_filesz);
  EXPECT_LE(load.p_offset + load.p_filesz, image.size());
  EXPECT_GE(ehdr.e_entry, load.p_paddr);
  EXPECT_LT(ehdr.e_entry, load.p_paddr + load.p_filesz);

  bool found = false;
  for (uint32_t off = 0; off + 12 <= kMultibootSearchBytes; off += 4) {
    if (Read<uint32_t>(image, off) != kMultibootMagic) continue;
    uint32_t flags = Read<uint32_t>(image, off + 4);
    uint32_t checksum = Read<uint32_t>(image, off + 8);
    EXPECT_EQ(kMultibootMagic + flags + checksum, 0u) << "header at " << off;
    EXPECT_TRUE(flags & kMultibootMemoryInfo);
    EXPECT_FALSE(flags & kMultibootAoutKludge);
    EXPECT_GE(off, load.p_offset) << "header outside the loaded segment";
    found = true;
    break;
  }
  EXPECT_TRUE(found) << "no multiboot header in the first 8 KiB";
}

INSTANTIATE_TEST_SUITE_P(
    Guests, ImageFormatTest,
    ::testing::Values("hello", "compute", "kvstore", "disk", "timer",
                      "memtouch", "vro", "testcases/triple_fault",
                      "testcases/spin", "testcases/cpl0_loop",
                      "testcases/pio_bench", "testcases/rdtsc",
                      "testcases/exception", "testcases/exit_code",
                      "testcases/interrupts", "testcases/auto_vro"),
    [](const ::testing::TestParamInfo<std::string>& info) {
      std::string name = info.param;
      for (char& c : name) {
        if (c == '/') c = '_';
      }
      return name;
    });

}  // namespace
}  // namespace xv::guest_testing
