#include "base/hash128.h"

#include <string>

#include "gtest/gtest.h"

namespace xv {
namespace {

TEST(Hash128Test, MatchesXxh128sumOfEmptyInput) {
  // XXH3-128 of no input, unseeded, high half first (xxHash 0.8.1).
  EXPECT_EQ(HashBytes({}).ToHex(), "99aa06d3014798d86001c324468d497f");
}

TEST(Hash128Test, StreamingEqualsOneShot) {
  std::string data(10000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  Hasher h;
  h.Update(std::string_view(data).substr(0, 1234));
  h.Update(std::string_view(data).substr(1234));
  EXPECT_EQ(
      h.Digest(),
      HashBytes({reinterpret_cast<const uint8_t*>(data.data()), data.size()}));
}

TEST(Hash128Test, HexRoundTrip) {
  Hash128 h{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  EXPECT_EQ(h.ToHex(), "0123456789abcdeffedcba9876543210");
  EXPECT_EQ(*Hash128::FromHex(h.ToHex()), h);
  EXPECT_FALSE(Hash128::FromHex("xyz").ok());
  EXPECT_FALSE(Hash128::FromHex(std::string(32, 'g')).ok());
}

TEST(Hash128Test, SingleBitChangesDigest) {
  uint8_t a[64] = {};
  uint8_t b[64] = {};
  b[63] = 1;
  EXPECT_NE(HashBytes(a), HashBytes(b));
}

}  // namespace
}  // namespace xv
