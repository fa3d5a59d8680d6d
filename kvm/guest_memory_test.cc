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
