#include <fcntl.h>
#include <sys/mman.h>

#include <utility>

#include "base/scoped_fd.h"
#include "base/scoped_mapping.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

bool FdIsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(ScopedFdTest, ClosesOnDestructionAndMoves) {
  int raw = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(raw, 0);
  {
    ScopedFd a(raw);
    ScopedFd b = std::move(a);
    EXPECT_FALSE(
        a.valid());  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
    EXPECT_EQ(b.get(), raw);
    EXPECT_TRUE(FdIsOpen(raw));
  }
  EXPECT_FALSE(FdIsOpen(raw));
}

TEST(ScopedFdTest, ReleaseKeepsFdOpen) {
  int raw = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(raw, 0);
  {
    ScopedFd a(raw);
    EXPECT_EQ(a.Release(), raw);
  }
  EXPECT_TRUE(FdIsOpen(raw));
  ::close(raw);
}

TEST(ScopedMappingTest, AnonymousIsZeroedAndUnmapped) {
  auto m = ScopedMapping::Anonymous(8192, "test");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size(), 8192u);
  EXPECT_EQ(m->data()[8191], 0);
  m->data()[0] = 1;
  uint8_t* addr = m->data();
  ScopedMapping moved = std::move(*m);
  EXPECT_EQ(moved.data(), addr);
  moved.Reset();
  unsigned char vec;
  // mincore fails with ENOMEM once the range is no longer mapped.
  EXPECT_EQ(::mincore(addr, 4096, &vec), -1);
}

TEST(ScopedMappingTest, ErrorNamesTheMapping) {
  auto m = ScopedMapping::Map(4096, PROT_READ, MAP_SHARED, /*fd=*/-1, 0,
                              "my region");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("my region"), std::string::npos);
}

}  // namespace
}  // namespace xv
