// xv_snprintf against the C library's snprintf, on the host.
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>

#include "gtest/gtest.h"

extern "C" {
#include "xv/format.h"
}

namespace {

// Some cases below are odd on purpose (flags C ignores, an unknown
// conversion): the point is that xv_snprintf does what libc does with them.
#pragma GCC diagnostic ignored "-Wformat"

#define EXPECT_FORMATS_LIKE_LIBC(...)                                   \
  do {                                                                  \
    char expected[256], actual[256];                                    \
    int n_expected = snprintf(expected, sizeof(expected), __VA_ARGS__); \
    int n_actual = xv_snprintf(actual, sizeof(actual), __VA_ARGS__);    \
    EXPECT_STREQ(actual, expected) << #__VA_ARGS__;                     \
    EXPECT_EQ(n_actual, n_expected) << #__VA_ARGS__;                    \
  } while (0)

TEST(FormatTest, Integers) {
  EXPECT_FORMATS_LIKE_LIBC("%d %i %u", -42, 7, 3000000000u);
  EXPECT_FORMATS_LIKE_LIBC("%d %d", INT32_MIN, INT32_MAX);
  EXPECT_FORMATS_LIKE_LIBC("%ld %lu %lx", -1L, ~0UL, 0xdeadbeefUL);
  EXPECT_FORMATS_LIKE_LIBC("%lld %llu %llx %llX",
                           static_cast<long long>(INT64_MIN),
                           static_cast<unsigned long long>(UINT64_MAX),
                           0x123456789abcdefULL, 0xabcdefULL);
  EXPECT_FORMATS_LIKE_LIBC("%zu %zx %zd", static_cast<size_t>(12345),
                           static_cast<size_t>(255), static_cast<size_t>(9));
  EXPECT_FORMATS_LIKE_LIBC("%hhu %hhd %hu %hd", 300, 200, 70000, 40000);
  EXPECT_FORMATS_LIKE_LIBC("%o %x %X", 8, 0, 255);
}

TEST(FormatTest, WidthPrecisionAndFlags) {
  EXPECT_FORMATS_LIKE_LIBC("[%5d] [%-5d] [%05d] [%-05d]", 42, 42, 42, 42);
  EXPECT_FORMATS_LIKE_LIBC("[%08x] [%016llx] [%2x]", 0xbeefu, 1ULL, 0x1234u);
  EXPECT_FORMATS_LIKE_LIBC("[%05d] [%+d] [% d] [%+5d]", -42, 42, 42, -3);
  EXPECT_FORMATS_LIKE_LIBC("[%.3d] [%6.3d] [%-6.3d] [%06.3d]", 7, 7, -7, 7);
  EXPECT_FORMATS_LIKE_LIBC("[%.0d] [%.0x] [%5.0d]", 0, 0, 0);
  EXPECT_FORMATS_LIKE_LIBC("[%*d] [%-*d] [%.*d]", 6, 1, 6, 1, 3, 1);
  EXPECT_FORMATS_LIKE_LIBC("[%*d]", -4, 9);
}

TEST(FormatTest, StringsCharsPointers) {
  EXPECT_FORMATS_LIKE_LIBC("[%s] [%8s] [%-8s] [%.2s] [%.*s]", "abc", "abc",
                           "abc", "abc", 1, "xyz");
  EXPECT_FORMATS_LIKE_LIBC("[%c] [%3c] [%-3c] 100%%", 'x', 'y', 'z');
  EXPECT_FORMATS_LIKE_LIBC("%p %p", reinterpret_cast<void*>(0x1000),
                           reinterpret_cast<void*>(0xffff800000001234));
}

TEST(FormatTest, TruncatesAndReturnsFullLength) {
  char buf[6];
  EXPECT_EQ(xv_snprintf(buf, sizeof(buf), "%s-%d", "hello", 12345), 11);
  EXPECT_STREQ(buf, "hello");
  EXPECT_EQ(xv_snprintf(nullptr, 0, "%d", 123), 3);
}

TEST(FormatTest, UnknownConversionIsShown) {
  char buf[32];
  xv_snprintf(buf, sizeof(buf), "a%qb");
  EXPECT_STREQ(buf, "a%qb");
}

}  // namespace
