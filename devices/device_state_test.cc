#include "devices/device_state.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace xv {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(StateEncodingTest, RoundTripsEveryFieldLittleEndian) {
  StateWriter w;
  w.U8("u8", 0x12);
  w.U16("u16", 0x3456);
  w.U32("u32", 0x789abcde);
  w.U64("u64", 0x0102030405060708);
  w.Bool("bool", true);
  const std::vector<uint8_t> blob = {1, 2, 3};
  w.Bytes("bytes", blob);
  w.String("string", "abc");
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
  w.U16("f", 7);
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
    w.Bytes("f", std::vector<uint8_t>(5, 0));
    StateReader r(w.bytes(), "x");
    r.Bytes(4);
    EXPECT_FALSE(r.ok());
  }
  {
    StateWriter w;
    w.Bytes("f", std::vector<uint8_t>(5, 0));
    std::vector<uint8_t> out(4);
    StateReader r(w.bytes(), "x");
    r.BytesInto(out);
    EXPECT_FALSE(r.ok());
  }
  {
    StateWriter w;
    w.U8("f", 1);
    w.U8("f", 2);
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
    w.U32("f", 100);
    w.U8("f", 0);
    StateReader r(w.bytes(), "x");
    r.Bytes(1000);
    EXPECT_FALSE(r.ok());
  }
}

TEST(StateEncodingTest, CheckRecordsTheFirstError) {
  StateWriter w;
  w.U8("f", 9);
  StateReader r(w.bytes(), "state of pit");
  const uint8_t mode = r.U8();
  r.Check(mode <= 5, "mode");
  r.Check(false, "other");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("'mode'"), std::string::npos);
  EXPECT_EQ(Message(r.status()).find("other"), std::string::npos);
}

TEST(StateDescriptionTest, DescribingWriterEncodesTheSameBytes) {
  const auto write = [](StateWriter& w) {
    w.U8("a", 0x12);
    w.U16("b", 0x3456);
    w.U32("c", 0x789abcde);
    w.U64("d", 0x0102030405060708);
    w.Bool("e", true);
    w.Bytes("f", std::vector<uint8_t>{1, 2, 3});
    w.String("g", "abc");
    w.Registers("h", std::vector<uint8_t>{4, 5});
  };
  StateWriter plain;
  write(plain);
  StateWriter describing = StateWriter::Describing();
  write(describing);
  EXPECT_EQ(plain.bytes(), describing.bytes());
  EXPECT_TRUE(plain.fields().empty());
  EXPECT_FALSE(describing.fields().empty());
  // Registers() encodes exactly like Bytes().
  StateWriter as_bytes;
  as_bytes.Bytes("h", std::vector<uint8_t>{4, 5});
  StateWriter as_registers;
  as_registers.Registers("h", std::vector<uint8_t>{4, 5});
  EXPECT_EQ(as_bytes.bytes(), as_registers.bytes());
}

TEST(StateDescriptionTest, FormatsValuesForPeople) {
  StateWriter w = StateWriter::Describing();
  w.U8("lcr", 0x03);
  w.U16("divisor", 0x2e9b);
  w.U32("count", 0);
  w.U64("tick", 0x123456789a);
  w.Bool("on", true);
  w.Bool("off", false);
  w.Bytes("empty", std::vector<uint8_t>{});
  w.Bytes("fifo", std::vector<uint8_t>{'h', 'i', '\n'});
  std::vector<uint8_t> long_buffer(20);
  for (size_t i = 0; i < long_buffer.size(); ++i) long_buffer[i] = i;
  w.Bytes("buffer", long_buffer);
  w.String("name", "a\"b\n");
  w.Registers("cmos", std::vector<uint8_t>{0x26, 0x02});
  const std::vector<DeviceField> expected = {
      {"lcr", "0x03"},
      {"divisor", "0x2e9b"},
      {"count", "0x00"},
      {"tick", "0x123456789a"},
      {"on", "true"},
      {"off", "false"},
      {"empty", "0 bytes"},
      {"fifo", "3 bytes: 68 69 0a"},
      {"buffer",
       "20 bytes: 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ..."},
      {"name", "\"a\\\"b\\n\""},
      {"cmos[0x00]", "0x26"},
      {"cmos[0x01]", "0x02"},
  };
  EXPECT_EQ(w.fields(), expected);
}

TEST(StateDescriptionTest, ScopesPrefixNamesAndNest) {
  StateWriter w = StateWriter::Describing();
  w.U8("before", 1);
  {
    const auto outer = w.Scope("channel[0]");
    w.U8("mode", 2);
    {
      const auto inner = w.Scope("latch");
      w.U16("count", 3);
    }
    w.U8("access", 4);
  }
  w.U8("after", 5);
  std::vector<std::string> names;
  for (const DeviceField& f : w.fields()) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"before", "channel[0].mode",
                                             "channel[0].latch.count",
                                             "channel[0].access", "after"}));
}

}  // namespace
}  // namespace xv
