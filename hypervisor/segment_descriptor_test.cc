// LoadSegmentDescriptor and LoadSystemSegmentDescriptor over a GDT written
// into a real GuestMemory: real mode, null selectors, code/data/TSS
// descriptors (byte and page granular), through paging, and the refusals
// (LDT selector, beyond the GDT limit, unreadable descriptor).
#include "hypervisor/segment_descriptor.h"

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memshare/guest_memory.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kCr0Pe = 1;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;
constexpr uint64_t kGdt = 0x1000;

// A descriptor from its fields (limit is the raw 20-bit field).
uint64_t Descriptor(uint32_t base, uint32_t limit, uint8_t access,
                    uint8_t flags) {
  return (limit & 0xffff) | (uint64_t{base & 0xffffff} << 16) |
         (uint64_t{access} << 40) | (uint64_t{(limit >> 16) & 0xf} << 48) |
         (uint64_t{flags} & 0xf) << 52 | (uint64_t{base >> 24} << 56);
}

class SegmentDescriptorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create(1 << 20);
    ASSERT_TRUE(memory.ok()) << memory.status();
    memory_.emplace(*std::move(memory));
    arch_.cr0 = kCr0Pe;
    arch_.gdtr = {kGdt, 0x3f};
    // 0x08: 64-bit code, DPL0. 0x10: flat 4 GiB data, DPL3, AVL.
    // 0x18: 32-bit code at 0x12345678, limit 0x4321 bytes.
    // 0x20: busy TSS at 0x5000.
    Put(0x08, Descriptor(0, 0xfffff, 0x9b, 0xa));
    Put(0x10, Descriptor(0, 0xfffff, 0xf3, 0xd));
    Put(0x18, Descriptor(0x12345678, 0x4321, 0x9b, 0x4));
    Put(0x20, Descriptor(0x5000, 0x67, 0x8b, 0x0));
  }
  void Put(uint16_t selector, uint64_t d) {
    ASSERT_TRUE(memory_
                    ->Write(kGdt + selector,
                            {reinterpret_cast<const uint8_t*>(&d), sizeof d})
                    .ok());
  }

  std::optional<GuestMemory> memory_;
  ArchState arch_;
};

TEST_F(SegmentDescriptorTest, DecodesCodeAndDataDescriptors) {
  auto cs = LoadSegmentDescriptor(0x08, false, arch_, *memory_, "CS");
  ASSERT_TRUE(cs.ok()) << cs.status();
  EXPECT_EQ(*cs, (SegmentDescriptor{.selector = 0x08,
                                    .base = 0,
                                    .limit = 0xffffffff,
                                    .type = 0xb,
                                    .s = 1,
                                    .dpl = 0,
                                    .present = 1,
                                    .avl = 0,
                                    .l = 1,
                                    .db = 0,
                                    .g = 1}));
  auto ds = LoadSegmentDescriptor(0x13, true, arch_, *memory_, "DS");
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(*ds, (SegmentDescriptor{.selector = 0x13,
                                    .base = 0,
                                    .limit = 0xffffffff,
                                    .type = 3,
                                    .s = 1,
                                    .dpl = 3,
                                    .present = 1,
                                    .avl = 1,
                                    .l = 0,
                                    .db = 1,
                                    .g = 1}));
  auto code32 = LoadSegmentDescriptor(0x18, false, arch_, *memory_, "CS");
  ASSERT_TRUE(code32.ok()) << code32.status();
  EXPECT_EQ(code32->base, 0x12345678u);
  EXPECT_EQ(code32->limit, 0x4321u);
  EXPECT_EQ(code32->db, 1);
  EXPECT_EQ(code32->g, 0);
  EXPECT_FALSE(code32->unusable);
}

TEST_F(SegmentDescriptorTest, DecodeMatchesLoad) {
  const uint64_t d = Descriptor(0xabcdef01, 0x12345, 0xfa, 0x9);
  const SegmentDescriptor s = DecodeSegmentDescriptor(0x2b, d);
  EXPECT_EQ(s.selector, 0x2b);
  EXPECT_EQ(s.base, 0xabcdef01u);
  EXPECT_EQ(s.limit, 0x12345fffu);
  EXPECT_EQ(s.type, 0xa);
  EXPECT_EQ(s.s, 1);
  EXPECT_EQ(s.dpl, 3);
  EXPECT_EQ(s.present, 1);
  EXPECT_EQ(s.avl, 1);
  EXPECT_EQ(s.l, 0);
  EXPECT_EQ(s.db, 0);
  EXPECT_EQ(s.g, 1);
}

TEST_F(SegmentDescriptorTest, RealModeUsesTheSelectorAlone) {
  arch_.cr0 = 0;
  auto cs = LoadSegmentDescriptor(0xf000, false, arch_, *memory_, "CS");
  ASSERT_TRUE(cs.ok()) << cs.status();
  EXPECT_EQ(*cs, (SegmentDescriptor{.selector = 0xf000,
                                    .base = 0xf0000,
                                    .limit = 0xffff,
                                    .type = 0xb,
                                    .s = 1,
                                    .present = 1}));
  auto ds = LoadSegmentDescriptor(0x10, true, arch_, *memory_, "DS");
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ(ds->base, 0x100u);
  EXPECT_EQ(ds->type, 3);
}

TEST_F(SegmentDescriptorTest, NullSelectorIsUnusable) {
  auto ss = LoadSegmentDescriptor(0x3, true, arch_, *memory_, "SS");
  ASSERT_TRUE(ss.ok()) << ss.status();
  EXPECT_EQ(*ss, (SegmentDescriptor{.selector = 3, .unusable = true}));
}

TEST_F(SegmentDescriptorTest, RefusesLdtSelectors) {
  auto fs = LoadSegmentDescriptor(0x0c, true, arch_, *memory_, "FS");
  EXPECT_EQ(fs.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(fs.status().message(),
              HasSubstr("FS selector 0xc refers to the LDT"));
}

TEST_F(SegmentDescriptorTest, RefusesSelectorsBeyondTheLimit) {
  auto gs = LoadSegmentDescriptor(0x40, true, arch_, *memory_, "GS");
  EXPECT_EQ(gs.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(gs.status().message(),
              HasSubstr("GS selector 0x40 is beyond the GDT limit 0x3f"));
}

TEST_F(SegmentDescriptorTest, RefusesAnUnreadableDescriptor) {
  arch_.gdtr = {(1 << 20) - 0x10, 0xffff};
  auto cs = LoadSegmentDescriptor(0x10, false, arch_, *memory_, "CS");
  EXPECT_EQ(cs.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(cs.status().message(),
              HasSubstr("cannot read the descriptor of CS selector 0x10 at "
                        "linear 0x100000"));
}

TEST_F(SegmentDescriptorTest, ReadsTheGdtThroughPaging) {
  // Linear 0x40000000 -> the GDT's frame, by a 4-level walk.
  auto put64 = [&](uint64_t gpa, uint64_t v) {
    ASSERT_TRUE(
        memory_->Write(gpa, {reinterpret_cast<const uint8_t*>(&v), 8}).ok());
  };
  put64(0x10000, 0x11000 | 3);          // PML4[0]
  put64(0x11000 + 8 * 1, 0x12000 | 3);  // PDPT[1] (1 GiB)
  put64(0x12000, 0x13000 | 3);          // PD[0]
  put64(0x13000, kGdt | 3);             // PT[0]
  arch_.cr0 = kCr0Pe | kCr0Pg;
  arch_.cr3 = 0x10000;
  arch_.cr4 = kCr4Pae;
  arch_.efer = kEferLme | kEferLma;
  arch_.gdtr = {0x40000000, 0x3f};
  auto ss = LoadSegmentDescriptor(0x10, true, arch_, *memory_, "SS");
  ASSERT_TRUE(ss.ok()) << ss.status();
  EXPECT_EQ(ss->dpl, 3);
  EXPECT_EQ(ss->type, 3);
}

TEST_F(SegmentDescriptorTest, SystemSegmentsKeepBaseAndLimit) {
  auto tr = LoadSystemSegmentDescriptor({0x20, 0x123456789a, 0x2067}, arch_,
                                        *memory_, "TR", 0xb);
  ASSERT_TRUE(tr.ok()) << tr.status();
  EXPECT_EQ(*tr, (SegmentDescriptor{.selector = 0x20,
                                    .base = 0x123456789a,
                                    .limit = 0x2067,
                                    .type = 0xb,
                                    .s = 0,
                                    .present = 1}));

  auto ldt =
      LoadSystemSegmentDescriptor({0, 0, 0xffff}, arch_, *memory_, "LDTR", 2);
  ASSERT_TRUE(ldt.ok()) << ldt.status();
  EXPECT_EQ(*ldt,
            (SegmentDescriptor{.limit = 0xffff, .type = 2, .unusable = true}));

  arch_.cr0 = 0;
  auto real = LoadSystemSegmentDescriptor({0x20, 0x1000, 0x67}, arch_, *memory_,
                                          "TR", 0xb);
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_EQ(*real, (SegmentDescriptor{.selector = 0x20,
                                      .base = 0x1000,
                                      .limit = 0x67,
                                      .type = 0xb,
                                      .present = 1}));

  arch_.cr0 = kCr0Pe;
  auto bad =
      LoadSystemSegmentDescriptor({0x48, 0, 0}, arch_, *memory_, "TR", 0xb);
  EXPECT_THAT(bad.status().message(),
              HasSubstr("TR selector 0x48 is beyond the GDT limit"));
}

}  // namespace
}  // namespace xv
