#include "devices/device_state.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace xv {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(StateEncodingTest, RoundTripsEveryFieldLittleEndian) {
  StateWriter w;
  w.U8(0x12);
  w.U16(0x3456);
  w.U32(0x789abcde);
  w.U64(0x0102030405060708);
  w.Bool(true);
  const std::vector<uint8_t> blob = {1, 2, 3};
  w.Bytes(blob);
  w.String("abc");
  const std::vector<uint8_t> expected_prefix = {0x12, 0x56, 0x34, 0xde, 0xbc,
                                                0x9a, 0x78, 0x08, 0x07};
  ASSERT_GE(w.bytes().size(), expected_prefix.size());
  EXPECT_TRUE(std::equal(expected_prefix.begin(), expected_prefix.end(),
                         w.bytes().begin()));

  StateReader r(w.bytes(), "test blob");
  EXPECT_EQ(r.U8(), 0x12);
  EXPECT_EQ(r.U16(), 0x3456);
  EXPECT_EQ(r.U32(), 0x789abcdeu);
  EXPECT_EQ(r.U64(), 0x0102030405060708u);
  EXPECT_TRUE(r.Bool());
  EXPECT_EQ(r.Bytes(3), blob);
  EXPECT_EQ(r.String(8), "abc");
  EXPECT_TRUE(r.Finish().ok()) << r.Finish();
}

TEST(StateEncodingTest, TruncationIsStickyAndNamesTheBlob) {
  StateWriter w;
  w.U16(7);
  StateReader r(w.bytes(), "state of widget");
  EXPECT_EQ(r.U32(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.U8(), 0);  // later reads do not resurrect the reader
  EXPECT_FALSE(r.Finish().ok());
  EXPECT_NE(Message(r.status()).find("state of widget"), std::string::npos);
  EXPECT_NE(Message(r.status()).find("truncated"), std::string::npos);
}

TEST(StateEncodingTest, RejectsBadBoolOversizedBytesAndTrailingData) {
  {
    const std::vector<uint8_t> b = {2};
    StateReader r(b, "x");
    r.Bool();
    EXPECT_FALSE(r.ok());
  }
  {
    StateWriter w;
    w.Bytes(std::vector<uint8_t>(5, 0));
    StateReader r(w.bytes(), "x");
    r.Bytes(4);
    EXPECT_FALSE(r.ok());
  }
  {
    StateWriter w;
    w.Bytes(std::vector<uint8_t>(5, 0));
    std::vector<uint8_t> out(4);
    StateReader r(w.bytes(), "x");
    r.BytesInto(out);
    EXPECT_FALSE(r.ok());
  }
  {
    StateWriter w;
    w.U8(1);
    w.U8(2);
    StateReader r(w.bytes(), "x");
    r.U8();
    EXPECT_TRUE(r.ok());
    const absl::Status s = r.Finish();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(Message(s).find("trailing"), std::string::npos);
  }
  {
    // A length prefix larger than what is left.
    StateWriter w;
    w.U32(100);
    w.U8(0);
    StateReader r(w.bytes(), "x");
    r.Bytes(1000);
    EXPECT_FALSE(r.ok());
  }
}

TEST(StateEncodingTest, CheckRecordsTheFirstError) {
  StateWriter w;
  w.U8(9);
  StateReader r(w.bytes(), "state of pit");
  const uint8_t mode = r.U8();
  r.Check(mode <= 5, "mode");
  r.Check(false, "other");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("'mode'"), std::string::npos);
  EXPECT_EQ(Message(r.status()).find("other"), std::string::npos);
}

}  // namespace
}  // namespace xv
