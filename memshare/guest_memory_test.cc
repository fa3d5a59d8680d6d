#include "memshare/guest_memory.h"

#include <vector>

#include "gtest/gtest.h"
#include "memshare/page_hashes.h"
#include "memshare/zero_page_reclaimer.h"

namespace xv {
namespace {

TEST(GuestMemoryTest, RejectsBadSizes) {
  EXPECT_FALSE(GuestMemory::Create(0).ok());
  EXPECT_FALSE(GuestMemory::Create(4095).ok());
}

TEST(GuestMemoryTest, BoundsChecksEveryAccess) {
  auto mem = GuestMemory::Create(2 * kPageSize);
  ASSERT_TRUE(mem.ok());
  std::vector<uint8_t> buf(16, 0xab);
  EXPECT_TRUE(mem->Write(2 * kPageSize - 16, buf).ok());
  EXPECT_FALSE(mem->Write(2 * kPageSize - 15, buf).ok());
  EXPECT_FALSE(mem->Write(UINT64_MAX - 4, buf).ok());
  auto s = mem->Span(2 * kPageSize, 1);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("0x2000"), absl::string_view::npos);
  std::vector<uint8_t> out(16);
  ASSERT_TRUE(mem->Read(2 * kPageSize - 16, out).ok());
  EXPECT_EQ(out, buf);
  EXPECT_TRUE(mem->Span(2 * kPageSize, 0).ok());
}

}  // namespace
}  // namespace xv

namespace xv {
namespace {

std::vector<uint8_t> Page(uint8_t fill) {
  return std::vector<uint8_t>(kPageSize, fill);
}

uint8_t ByteAt(const GuestMemory& m, uint64_t gpa) {
  return (*m.Span(gpa, 1))[0];
}

TEST(GuestMemoryTest, ReplicasOfOneBaseNeverSeeEachOthersWrites) {
  auto base = MemoryBase::Create(16 * kPageSize);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE((*base)->WritePages(3, Page(0x33)).ok());
  auto a = GuestMemory::MapReplica(*base);
  auto b = GuestMemory::MapReplica(*base);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(ByteAt(*a, 3 * kPageSize), 0x33);
  ASSERT_TRUE(a->Write(3 * kPageSize + 7, Page(0xaa)).ok());
  EXPECT_EQ(ByteAt(*a, 3 * kPageSize + 7), 0xaa);
  EXPECT_EQ(ByteAt(*b, 3 * kPageSize + 7), 0x33);
  // The base never sees a replica's write.
  std::vector<uint8_t> in_base(1);
  ASSERT_TRUE((*base)->Read(3 * kPageSize + 7, in_base).ok());
  EXPECT_EQ(in_base[0], 0x33);
  // A base write shows through where a replica has no private copy only.
  ASSERT_TRUE((*base)->WritePages(4, Page(0x44)).ok());
  EXPECT_EQ(ByteAt(*b, 4 * kPageSize), 0x44);
  ASSERT_TRUE((*base)->WritePages(3, Page(0x55)).ok());
  EXPECT_EQ(ByteAt(*a, 3 * kPageSize + 7), 0xaa);
  EXPECT_EQ(ByteAt(*b, 3 * kPageSize + 7), 0x55);
  // Dropping the private copy reads the base again.
  PageRun run{3, 1};
  ASSERT_TRUE(a->DropPrivateCopies({&run, 1}).ok());
  EXPECT_EQ(ByteAt(*a, 3 * kPageSize + 7), 0x55);
}

TEST(GuestMemoryTest, RemembersEveryVmmWrittenPage) {
  auto m = GuestMemory::Create(16 * kPageSize);
  ASSERT_TRUE(m.ok());
  // A write straddling pages 1 and 2, and a mutable span over page 9.
  ASSERT_TRUE(m->Write(2 * kPageSize - 2, Page(1)).ok());
  ASSERT_TRUE(m->MutableSpan(9 * kPageSize + 5, 1).ok());
  DirtyBitmap got(m->pages());
  m->TakeVmmWrites(got);
  EXPECT_EQ(got.Runs(), (std::vector<PageRun>{{1, 2}, {9, 1}}));
  DirtyBitmap again(m->pages());
  m->TakeVmmWrites(again);
  EXPECT_TRUE(again.Empty());
}

TEST(MemoryBaseTest, DataRunsFollowWrittenPages) {
  auto base = MemoryBase::Create(64 * kPageSize);
  ASSERT_TRUE(base.ok());
  auto none = (*base)->DataRuns();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE((*base)->WritePages(5, Page(1)).ok());
  ASSERT_TRUE((*base)->WritePages(40, Page(2)).ok());
  auto runs = (*base)->DataRuns();
  ASSERT_TRUE(runs.ok());
  // Holes may be coarser than a page on some file systems: every written
  // page must be covered, and most of the file must stay a hole.
  uint64_t covered = 0;
  bool has5 = false, has40 = false;
  for (const PageRun& r : *runs) {
    covered += r.count;
    has5 |= r.first <= 5 && 5 < r.first + r.count;
    has40 |= r.first <= 40 && 40 < r.first + r.count;
  }
  EXPECT_TRUE(has5 && has40);
  EXPECT_LT(covered, 32u);
  EXPECT_FALSE((*base)->WritePages(64, Page(1)).ok());
  EXPECT_FALSE((*base)->WritePages(0, std::vector<uint8_t>(100)).ok());
}

TEST(ZeroPageReclaimerTest, FreesTheZeroPagesShmemAllocatedForCopies) {
  auto base = MemoryBase::Create(256 * kPageSize);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE((*base)->WritePages(10, Page(0x10)).ok());  // merged content
  auto m = GuestMemory::MapReplica(*base);
  ASSERT_TRUE(m.ok());
  // The first write to each of 100 holes allocates a zero page in the base
  // (then copies it); page 10 is copied from its real content.
  for (uint64_t p = 0; p < 100; ++p) {
    ASSERT_TRUE(m->Write(p * kPageSize, Page(1)).ok());
  }
  auto before = (*base)->ResidentBytes();
  ASSERT_TRUE(before.ok());
  EXPECT_GE(*before, 100 * kPageSize);
  ZeroPageReclaimer reclaimer(&*m, std::chrono::hours(1));
  auto found = reclaimer.ScanOnce();
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, 100u);
  auto after = (*base)->ResidentBytes();
  ASSERT_TRUE(after.ok());
  EXPECT_LE(*after, 4 * kPageSize);  // page 10, rounded to the fs's blocks
  // The replica still sees its own data, and the base its merged page.
  EXPECT_EQ(ByteAt(*m, 50 * kPageSize), 1);
  std::vector<uint8_t> merged(1);
  ASSERT_TRUE((*base)->Read(10 * kPageSize, merged).ok());
  EXPECT_EQ(merged[0], 0x10);
  found = reclaimer.ScanOnce();
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, 0u);
}

Hash128 RootFromScratch(const GuestMemory& m) {
  PageHashes h(m.pages());
  DirtyBitmap all(m.pages());
  all.SetRange(0, m.pages());
  h.Rehash(m, all);
  return h.Root();
}

TEST(PageHashesTest, IncrementalRootEqualsFromScratchAndSeesOneBit) {
  constexpr uint64_t kPages = 3 * kPagesPerGroup + 5;  // a partial group
  auto m = GuestMemory::Create(kPages * kPageSize);
  ASSERT_TRUE(m.ok());
  PageHashes incremental(kPages);
  EXPECT_EQ(incremental.Root(), RootFromScratch(*m));
  const Hash128 zero_root = incremental.Root();
  for (uint64_t gpa :
       {uint64_t{0}, 70 * kPageSize + 9, (kPages - 1) * kPageSize}) {
    uint8_t one = 1;
    ASSERT_TRUE(m->Write(gpa, {&one, 1}).ok());
    DirtyBitmap d(kPages);
    m->TakeVmmWrites(d);
    incremental.Rehash(*m, d);
    EXPECT_EQ(incremental.Root(), RootFromScratch(*m)) << gpa;
  }
  EXPECT_NE(incremental.Root(), zero_root);
  // Writing zeros back restores the zero root.
  DirtyBitmap d(kPages);
  for (uint64_t p : {uint64_t{0}, uint64_t{70}, kPages - 1}) {
    ASSERT_TRUE(m->Write(p * kPageSize, Page(0)).ok());
  }
  m->TakeVmmWrites(d);
  incremental.Rehash(*m, d);
  EXPECT_EQ(incremental.Root(), zero_root);
}

TEST(PageHashesTest, OfBaseHashesTheBasesContent) {
  auto base = MemoryBase::Create(100 * kPageSize);
  ASSERT_TRUE(base.ok());
  ASSERT_TRUE((*base)->WritePages(77, Page(7)).ok());
  auto of_base = PageHashes::OfBase(**base);
  ASSERT_TRUE(of_base.ok());
  auto view = GuestMemory::MapReplica(*base);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(of_base->Root(), RootFromScratch(*view));
  EXPECT_EQ(of_base->page(77), HashPage(Page(7).data()));
  EXPECT_TRUE(of_base->IsZero(76));
}

}  // namespace
}  // namespace xv
