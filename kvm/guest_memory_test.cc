#include "kvm/guest_memory.h"

#include <vector>

#include "gtest/gtest.h"

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

// The shortcut for untouched pages must never change the result: the hash
// equals the one computed by reading every page.
Hash128 ReadEveryPageHash(const GuestMemory& m) {
  Hasher h;
  for (uint64_t gpa = 0; gpa < m.size(); gpa += kPageSize) {
    h.Update(HashBytes(*m.Span(gpa, kPageSize)));
  }
  return h.Digest();
}

TEST(GuestMemoryTest, ContentHashIgnoresResidencyButNotContent) {
  auto a = GuestMemory::Create(64 * kPageSize);
  auto b = GuestMemory::Create(64 * kPageSize);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ContentHash(), b->ContentHash());
  // Touching a page with zeros (now resident) changes nothing.
  std::vector<uint8_t> zeros(kPageSize, 0);
  ASSERT_TRUE(a->Write(5 * kPageSize, zeros).ok());
  EXPECT_EQ(a->ContentHash(), b->ContentHash());
  // One bit anywhere does.
  uint8_t one = 1;
  ASSERT_TRUE(a->Write(63 * kPageSize + 4095, {&one, 1}).ok());
  EXPECT_NE(a->ContentHash(), b->ContentHash());
  EXPECT_EQ(a->ContentHash(), ReadEveryPageHash(*a));
  ASSERT_TRUE(b->Write(63 * kPageSize + 4095, {&one, 1}).ok());
  EXPECT_EQ(a->ContentHash(), b->ContentHash());
}

}  // namespace
}  // namespace xv
