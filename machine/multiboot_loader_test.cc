#include "machine/multiboot_loader.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "machine/test_kernel_builder.h"

namespace xv {
namespace {

constexpr uint64_t kMem = 4 << 20;

uint32_t Read32(const GuestMemory& m, uint64_t gpa) {
  uint8_t b[4];
  EXPECT_TRUE(m.Read(gpa, b).ok());
  return b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24;
}

std::string ReadCString(const GuestMemory& m, uint64_t gpa) {
  std::string s;
  for (;; ++gpa) {
    uint8_t c;
    EXPECT_TRUE(m.Read(gpa, {&c, 1}).ok());
    if (c == 0) return s;
    s.push_back(static_cast<char>(c));
  }
}

absl::StatusOr<LoadedKernel> Load(const std::vector<uint8_t>& image,
                                  GuestMemory& mem,
                                  const std::string& cmdline = "") {
  return LoadMultibootKernel(image, "test.elf", {.cmdline = cmdline}, mem);
}

TEST(MultibootLoaderTest, LoadsSegmentsZeroesBssAndBuildsInfo) {
  auto mem = GuestMemory::Create(kMem);
  ASSERT_TRUE(mem.ok());
  // Dirty the bss range first: the loader must zero it.
  std::vector<uint8_t> junk(64, 0xee);
  ASSERT_TRUE(mem->Write(0x100000 + 13, junk).ok());
  ElfBuilder b;
  b.bss = 64;
  auto k = Load(b.Build(), *mem, "mib=4 fast");
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->entry, 0x10000cu);
  EXPECT_EQ(Read32(*mem, 0x100000), 0x1BADB002u);
  uint8_t after[64];
  ASSERT_TRUE(mem->Read(0x100000 + 13, after).ok());
  for (uint8_t v : after) EXPECT_EQ(v, 0);

  uint64_t info = k->info_addr;
  EXPECT_GE(info, 0x100000u + 13 + 64);
  EXPECT_EQ(info % 4096, 0u);
  uint32_t flags = Read32(*mem, info);
  EXPECT_EQ(flags & 0x1, 0x1u);    // mem_lower/upper
  EXPECT_EQ(flags & 0x4, 0x4u);    // cmdline
  EXPECT_EQ(flags & 0x40, 0x40u);  // memory map
  EXPECT_EQ(Read32(*mem, info + 4), 639u);
  EXPECT_EQ(Read32(*mem, info + 8), (kMem - 0x100000) / 1024);
  EXPECT_EQ(ReadCString(*mem, Read32(*mem, info + 16)), "mib=4 fast");
  EXPECT_EQ(ReadCString(*mem, Read32(*mem, info + 64)), "xvirt");

  // The memory map covers all RAM and marks the BIOS hole reserved.
  uint32_t map_len = Read32(*mem, info + 44);
  uint32_t map_addr = Read32(*mem, info + 48);
  uint64_t available = 0;
  for (uint32_t off = 0; off < map_len;) {
    uint32_t size = Read32(*mem, map_addr + off);
    uint64_t len = Read32(*mem, map_addr + off + 12) |
                   uint64_t{Read32(*mem, map_addr + off + 16)} << 32;
    if (Read32(*mem, map_addr + off + 20) == 1) available += len;
    off += size + 4;
  }
  EXPECT_EQ(available, 0x9fc00 + (kMem - 0x100000));
}

TEST(MultibootLoaderTest, TranslatesVirtualEntryToPhysical) {
  auto mem = GuestMemory::Create(kMem);
  ASSERT_TRUE(mem.ok());
  ElfBuilder b;
  b.vaddr = 0xc0100000;
  auto k = Load(b.Build(), *mem);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->entry, 0x10000cu);
}

TEST(MultibootLoaderTest, RejectsNonElf) {
  auto mem = GuestMemory::Create(kMem);
  std::vector<uint8_t> text(100, 'x');
  auto k = Load(text, *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(
      k.status().message().find("neither an ELF file nor a multiboot image"),
      absl::string_view::npos)
      << k.status();
}

TEST(MultibootLoaderTest, RejectsElfWithoutMultibootHeader) {
  auto mem = GuestMemory::Create(kMem);
  ElfBuilder b;
  b.multiboot = false;
  b.entry_offset = 0;
  auto k = Load(b.Build(), *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("without a multiboot header"),
            absl::string_view::npos)
      << k.status();
}

TEST(MultibootLoaderTest, RejectsBadChecksum) {
  auto mem = GuestMemory::Create(kMem);
  ElfBuilder b;
  b.bad_checksum = true;
  auto k = Load(b.Build(), *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("without a multiboot header"),
            absl::string_view::npos);
}

TEST(MultibootLoaderTest, RejectsUnsupportedRequiredFlags) {
  auto mem = GuestMemory::Create(kMem);
  ElfBuilder b;
  b.mb_flags = 0x3 | (1u << 5);
  auto k = Load(b.Build(), *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("unsupported features (flags 0x20)"),
            absl::string_view::npos)
      << k.status();
}

TEST(MultibootLoaderTest, RejectsKernelTooLargeForMemory) {
  auto mem = GuestMemory::Create(kMem);
  ElfBuilder b;
  b.bss = 8 << 20;
  auto k = Load(b.Build(), *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(k.status().message().find("does not fit in guest memory (4 MiB)"),
            absl::string_view::npos)
      << k.status();
  EXPECT_NE(k.status().message().find("--mem"), absl::string_view::npos);
}

TEST(MultibootLoaderTest, RejectsSegmentOutsideFile) {
  auto mem = GuestMemory::Create(kMem);
  auto image = ElfBuilder().Build();
  image.resize(0x100 + 12);  // keep the header, cut the code after it
  auto k = Load(image, *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("outside the file"),
            absl::string_view::npos)
      << k.status();
}

TEST(MultibootLoaderTest, RejectsEntryOutsideImage) {
  auto mem = GuestMemory::Create(kMem);
  ElfBuilder b;
  b.entry_offset = 0x10000;
  auto k = Load(b.Build(), *mem);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("entry point"), absl::string_view::npos);
}

TEST(MultibootLoaderTest, ValidationAgreesWithLoading) {
  ElfBuilder ok;
  ElfBuilder big;
  big.bss = 8 << 20;
  ElfBuilder plain;
  plain.multiboot = false;
  for (const ElfBuilder* b : {&ok, &big, &plain}) {
    auto mem = GuestMemory::Create(kMem);
    absl::Status validated =
        ValidateMultibootKernel(b->Build(), "test.elf", {}, kMem);
    auto loaded = Load(b->Build(), *mem);
    EXPECT_EQ(validated, loaded.status());
  }
  EXPECT_FALSE(ValidateMultibootKernel(big.Build(), "test.elf", {}, kMem).ok());
}

TEST(MultibootLoaderTest, LoadsWithAddressFields) {
  auto mem = GuestMemory::Create(kMem);
  // A flat binary: header with address fields (flag 16), then code.
  const uint32_t flags = 0x10003;
  const uint32_t load = 0x200000;
  std::vector<uint32_t> words = {
      0x1BADB002,    flags, 0u - 0x1BADB002u - flags,
      load,          load,  0,  // load to end of file
      load + 0x1000,            // bss end
      load + 32};
  std::vector<uint8_t> image(words.size() * 4);
  std::memcpy(image.data(), words.data(), image.size());
  image.push_back(0xf4);
  auto k = Load(image, *mem);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->entry, load + 32);
  uint8_t b;
  ASSERT_TRUE(mem->Read(load + 32, {&b, 1}).ok());
  EXPECT_EQ(b, 0xf4);
}

}  // namespace
}  // namespace xv
