// TranslateLinear and ReadLinear over page tables written into a real
// GuestMemory: paging off, 32-bit paging (4 KiB and, with CR4.PSE, 4 MiB
// pages), PAE paging (4 KiB, 2 MiB) and 4-level paging (4 KiB, 2 MiB,
// 1 GiB); a missing entry at each level, tables outside memory, 5-level
// paging; reads that cross into another frame or stop at an unmapped page.
#include "hypervisor/page_walk.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memshare/guest_memory.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr0Pe = 1;
constexpr uint64_t kCr4Pse = 1ull << 4;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kCr4La57 = 1ull << 12;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;
constexpr uint64_t kP = 1;        // present
constexpr uint64_t kRw = 2;       // writable: set as a guest would
constexpr uint64_t kPs = 1 << 7;  // large page
constexpr uint64_t kNx = 1ull << 63;

constexpr uint64_t kMemorySize = 8 << 20;

constexpr PagingState kPaging32{kCr0Pg | kCr0Pe, 0x1000, 0, 0};
constexpr PagingState kPagingPae{kCr0Pg | kCr0Pe, 0x3020, kCr4Pae, 0};
constexpr PagingState kPagingLong{kCr0Pg | kCr0Pe, 0x10000, kCr4Pae,
                                  kEferLme | kEferLma};

class PageWalkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create(kMemorySize);
    ASSERT_TRUE(memory.ok()) << memory.status();
    memory_.emplace(*std::move(memory));
  }

  void Write32(uint64_t gpa, uint32_t value) {
    ASSERT_TRUE(
        memory_->Write(gpa, {reinterpret_cast<uint8_t*>(&value), 4}).ok());
  }
  void Write64(uint64_t gpa, uint64_t value) {
    ASSERT_TRUE(
        memory_->Write(gpa, {reinterpret_cast<uint8_t*>(&value), 8}).ok());
  }
  // Fills page `gpa` with bytes that name it: (gpa >> 12) + offset.
  void FillFrame(uint64_t gpa) {
    std::vector<uint8_t> bytes(kPageSize);
    for (size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<uint8_t>((gpa >> 12) + i);
    }
    ASSERT_TRUE(memory_->Write(gpa, bytes).ok());
  }

  absl::StatusOr<uint64_t> Translate(const PagingState& paging,
                                     uint64_t linear) {
    return TranslateLinear(paging, *memory_, linear);
  }
  // The translation, which must succeed (all ones otherwise).
  uint64_t Gpa(const PagingState& paging, uint64_t linear) {
    absl::StatusOr<uint64_t> gpa = Translate(paging, linear);
    EXPECT_TRUE(gpa.ok()) << gpa.status();
    return gpa.value_or(~uint64_t{0});
  }

  // Long mode: maps `linear` through tables at 0x10000 (PML4), 0x11000
  // (PDPT), 0x12000 (PD), 0x13000 (PT) to `frame`, a 4 KiB page.
  void MapLong4K(uint64_t linear, uint64_t frame) {
    Write64(0x10000 + ((linear >> 39) & 0x1ff) * 8, 0x11000 | kP | kRw);
    Write64(0x11000 + ((linear >> 30) & 0x1ff) * 8, 0x12000 | kP | kRw);
    Write64(0x12000 + ((linear >> 21) & 0x1ff) * 8, 0x13000 | kP | kRw);
    Write64(0x13000 + ((linear >> 12) & 0x1ff) * 8, frame | kP | kRw);
  }

  // 32-bit paging: maps the 4 KiB page at `linear` through the page
  // directory at 0x1000 and a page table at 0x2000.
  void Map32(uint64_t linear, uint32_t frame) {
    Write32(0x1000 + ((linear >> 22) & 0x3ff) * 4, 0x2000 | kP | kRw);
    Write32(0x2000 + ((linear >> 12) & 0x3ff) * 4, frame | kP | kRw);
  }

  std::optional<GuestMemory> memory_;
};

std::string NotMapped(uint64_t linear, const char* level) {
  return absl::StrFormat(
      "linear address 0x%x is not mapped (%s entry not present)", linear,
      level);
}

TEST_F(PageWalkTest, PagingOffIsIdentityTruncatedTo32Bits) {
  const PagingState off{kCr0Pe, 0x1000, kCr4Pae, 0};
  EXPECT_EQ(Gpa(off, 0x1234), 0x1234u);
  EXPECT_EQ(Gpa(off, 0xfffff000), 0xfffff000u);
  EXPECT_EQ(Gpa(off, 0xabcd'0000'1234'5678), 0x12345678u);
  // No table is read: an address far outside memory still translates.
  EXPECT_EQ(Gpa(PagingState{}, 0xfee00000), 0xfee00000u);
}

TEST_F(PageWalkTest, Paging32With4KiBPages) {
  Map32(0x00405000, 0x7000);
  EXPECT_EQ(Gpa(kPaging32, 0x00405abc), 0x7abcu);
  EXPECT_EQ(Gpa(kPaging32, 0x00405fff), 0x7fffu);
  // CR3's low bits (PWT, PCD) are not part of the table address.
  PagingState flags = kPaging32;
  flags.cr3 |= 0x18;
  EXPECT_EQ(Gpa(flags, 0x00405abc), 0x7abcu);
  // 32-bit paging sees only the low 32 bits of the address.
  EXPECT_EQ(Gpa(kPaging32, 0xffff'ffff'0040'5abc), 0x7abcu);
}

TEST_F(PageWalkTest, Paging32With4MiBPagesUnderPse) {
  // PDE 3 maps [0xc00000, 0x1000000) to 0x1400000 as one 4 MiB page.
  Write32(0x1000 + 3 * 4, 0x01400000 | kPs | kP | kRw);
  PagingState pse = kPaging32;
  pse.cr4 |= kCr4Pse;
  EXPECT_EQ(Gpa(pse, 0x00d12345), 0x01512345u);
  EXPECT_EQ(Gpa(pse, 0x00ffffff), 0x017fffffu);
}

TEST_F(PageWalkTest, Paging32IgnoresPsWithoutPse) {
  // Without CR4.PSE the same PDE points at a page table (at 0x400000).
  Write32(0x1000 + 3 * 4, 0x00400000 | kPs | kP | kRw);
  Write32(0x00400000 + 0x112 * 4, 0x9000 | kP);
  EXPECT_EQ(Gpa(kPaging32, 0x00d12345), 0x9345u);
  PagingState pse = kPaging32;
  pse.cr4 |= kCr4Pse;
  EXPECT_EQ(Gpa(pse, 0x00d12345), 0x00512345u);
}

TEST_F(PageWalkTest, Paging32NotPresentNamesTheLevel) {
  EXPECT_EQ(Translate(kPaging32, 0x00405abc).status(),
            absl::NotFoundError(NotMapped(0x00405abc, "page directory")));
  Write32(0x1000 + 1 * 4, 0x2000 | kP);
  EXPECT_EQ(Translate(kPaging32, 0x00405abc).status(),
            absl::NotFoundError(NotMapped(0x00405abc, "page table")));
  // An entry with a frame but without P is not present either.
  Write32(0x2000 + 5 * 4, 0x7000 | kRw);
  EXPECT_EQ(Translate(kPaging32, 0x00405abc).status().code(),
            absl::StatusCode::kNotFound);
}

// PAE: CR3 = 0x3020 (32-byte aligned, not page aligned) holds the 4 PDPTEs.
constexpr uint64_t kPaeLinear = (2ull << 30) | (5 << 21) | (7 << 12) | 0x123;

TEST_F(PageWalkTest, PaePagingWith4KiBPages) {
  Write64(0x3020 + 2 * 8, 0x4000 | kP);
  Write64(0x4000 + 5 * 8, 0x5000 | kP | kRw);
  // A frame above 4 GiB, and NX: the entry's bits 51:12 are the address.
  Write64(0x5000 + 7 * 8, 0x12'3456'7000 | kNx | kP | kRw);
  EXPECT_EQ(Gpa(kPagingPae, kPaeLinear), 0x12'3456'7123u);
}

TEST_F(PageWalkTest, PaePagingWith2MiBPages) {
  Write64(0x3020 + 2 * 8, 0x4000 | kP);
  Write64(0x4000 + 5 * 8, 0x4060'0000 | kPs | kP | kRw);
  EXPECT_EQ(Gpa(kPagingPae, kPaeLinear), 0x4060'0000u + (7 << 12) + 0x123);
}

TEST_F(PageWalkTest, PaeNotPresentNamesTheLevel) {
  EXPECT_EQ(Translate(kPagingPae, kPaeLinear).status(),
            absl::NotFoundError(NotMapped(kPaeLinear, "PDPT")));
  Write64(0x3020 + 2 * 8, 0x4000 | kP);
  EXPECT_EQ(Translate(kPagingPae, kPaeLinear).status(),
            absl::NotFoundError(NotMapped(kPaeLinear, "page directory")));
  Write64(0x4000 + 5 * 8, 0x5000 | kP | kRw);
  EXPECT_EQ(Translate(kPagingPae, kPaeLinear).status(),
            absl::NotFoundError(NotMapped(kPaeLinear, "page table")));
}

// Every index different, so a walk using the wrong one finds nothing.
constexpr uint64_t kLongLinear = 0x0000'7f12'3456'789a;

TEST_F(PageWalkTest, LongModeWith4KiBPages) {
  MapLong4K(kLongLinear, 0x0000'0123'4567'8000 | kNx);
  EXPECT_EQ(Gpa(kPagingLong, kLongLinear), 0x0123'4567'889au);
  // Bit 7 of a page-table entry is PAT, not a page size.
  Write64(0x13000 + ((kLongLinear >> 12) & 0x1ff) * 8,
          0x0000'0123'4567'8000 | kPs | kP);
  EXPECT_EQ(Gpa(kPagingLong, kLongLinear), 0x0123'4567'889au);
}

TEST_F(PageWalkTest, LongModeWith2MiBPages) {
  MapLong4K(kLongLinear, 0);
  Write64(0x12000 + ((kLongLinear >> 21) & 0x1ff) * 8,
          0x0000'0008'0020'0000 | kPs | kP | kRw);
  EXPECT_EQ(Gpa(kPagingLong, kLongLinear),
            0x0000'0008'0020'0000u | (kLongLinear & 0x1fffff));
}

TEST_F(PageWalkTest, LongModeWith1GiBPages) {
  MapLong4K(kLongLinear, 0);
  Write64(0x11000 + ((kLongLinear >> 30) & 0x1ff) * 8,
          0x0000'0040'4000'0000 | kNx | kPs | kP | kRw);
  EXPECT_EQ(Gpa(kPagingLong, kLongLinear),
            0x0000'0040'4000'0000u | (kLongLinear & 0x3fffffff));
}

TEST_F(PageWalkTest, LongModeHigherHalfAddress) {
  constexpr uint64_t kKernel = 0xffff'ffff'8010'2345;
  MapLong4K(kKernel, 0x20000);
  EXPECT_EQ(Gpa(kPagingLong, kKernel), 0x20345u);
}

TEST_F(PageWalkTest, LongModeNotPresentNamesTheLevel) {
  EXPECT_EQ(Translate(kPagingLong, kLongLinear).status(),
            absl::NotFoundError(NotMapped(kLongLinear, "PML4")));
  Write64(0x10000 + ((kLongLinear >> 39) & 0x1ff) * 8, 0x11000 | kP);
  EXPECT_EQ(Translate(kPagingLong, kLongLinear).status(),
            absl::NotFoundError(NotMapped(kLongLinear, "PDPT")));
  Write64(0x11000 + ((kLongLinear >> 30) & 0x1ff) * 8, 0x12000 | kP);
  EXPECT_EQ(Translate(kPagingLong, kLongLinear).status(),
            absl::NotFoundError(NotMapped(kLongLinear, "page directory")));
  Write64(0x12000 + ((kLongLinear >> 21) & 0x1ff) * 8, 0x13000 | kP);
  EXPECT_EQ(Translate(kPagingLong, kLongLinear).status(),
            absl::NotFoundError(NotMapped(kLongLinear, "page table")));
  Write64(0x13000 + ((kLongLinear >> 12) & 0x1ff) * 8, 0x7000 | kP);
  EXPECT_EQ(Gpa(kPagingLong, kLongLinear), 0x789au);
}

TEST_F(PageWalkTest, TableOutsideMemoryIsOutOfRange) {
  PagingState far = kPagingLong;
  far.cr3 = kMemorySize;
  const uint64_t pml4e = kMemorySize + ((kLongLinear >> 39) & 0x1ff) * 8;
  EXPECT_EQ(
      Translate(far, kLongLinear).status(),
      absl::OutOfRangeError(absl::StrFormat(
          "page table entry at gpa 0x%x is outside guest memory", pml4e)));
  // A lower level pointing past the end of memory.
  Write64(0x10000 + ((kLongLinear >> 39) & 0x1ff) * 8, 0x4000'0000 | kP);
  EXPECT_EQ(Translate(kPagingLong, kLongLinear).status().code(),
            absl::StatusCode::kOutOfRange);
  // And in 32-bit paging.
  PagingState far32 = kPaging32;
  far32.cr3 = 0xfffff000;
  auto status = Translate(far32, 0x1000).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(status.message(), HasSubstr("gpa 0xfffff000"));
}

TEST_F(PageWalkTest, FiveLevelPagingIsRefused) {
  PagingState la57 = kPagingLong;
  la57.cr4 |= kCr4La57;
  MapLong4K(kLongLinear, 0x7000);
  auto status = Translate(la57, kLongLinear).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(status.message(), HasSubstr("5-level paging (CR4.LA57)"));
}

TEST_F(PageWalkTest, ReadLinearFollowsEachPageToItsOwnFrame) {
  // Adjacent linear pages on frames out of order, neither next to the other.
  Map32(0x00400000, 0x9000);
  Map32(0x00401000, 0x6000);
  FillFrame(0x9000);
  FillFrame(0x6000);
  std::array<uint8_t, 16> out{};
  auto read = ReadLinear(kPaging32, *memory_, 0x00400ff8, out);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, out.size());
  std::array<uint8_t, 16> expected;
  ASSERT_TRUE(memory_->Read(0x9ff8, {expected.data(), 8}).ok());
  ASSERT_TRUE(memory_->Read(0x6000, {expected.data() + 8, 8}).ok());
  EXPECT_EQ(out, expected);
}

TEST_F(PageWalkTest, ReadLinearStopsAtAnUnmappedPage) {
  Map32(0x00401000, 0x6000);
  FillFrame(0x6000);
  std::array<uint8_t, 32> out{};
  out.fill(0xee);
  auto read = ReadLinear(kPaging32, *memory_, 0x00401ff0, out);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, 16u);
  for (size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(out[i], static_cast<uint8_t>(6 + 0xff0 + i)) << i;
  }
  // Nothing written past what was read.
  EXPECT_EQ(out[16], 0xee);
}

TEST_F(PageWalkTest, ReadLinearFailsWhenNothingCanBeRead) {
  std::array<uint8_t, 8> out{};
  EXPECT_EQ(ReadLinear(kPaging32, *memory_, 0x00402000, out).status(),
            absl::NotFoundError(NotMapped(0x00402000, "page directory")));
  // Mapped, but to a frame outside guest memory.
  Map32(0x00402000, 0x40000000);
  EXPECT_EQ(ReadLinear(kPaging32, *memory_, 0x00402000, out).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(PageWalkTest, ReadLinearStopsAtAFrameOutsideMemory) {
  Map32(0x00401000, 0x6000);
  Map32(0x00402000, 0x40000000);
  std::array<uint8_t, 32> out{};
  auto read = ReadLinear(kPaging32, *memory_, 0x00401ff8, out);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, 8u);
}

TEST_F(PageWalkTest, ReadLinearWithPagingOffStopsAtTheEndOfMemory) {
  FillFrame(kMemorySize - kPageSize);
  std::array<uint8_t, 16> out{};
  auto read = ReadLinear(PagingState{}, *memory_, kMemorySize - 4, out);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, 4u);
  EXPECT_EQ(out[0], static_cast<uint8_t>((kMemorySize >> 12) - 1 + 0xffc));
}

}  // namespace
}  // namespace xv
