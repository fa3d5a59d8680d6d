// The framing must survive whatever a TCP stream does to packet boundaries
// and whatever a client sends; the parsers must refuse malformed packets
// with an error rather than guess.
#include "debug/gdb_packet.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

using Kind = PacketEvent::Kind;

std::vector<PacketEvent> Decode(PacketDecoder& decoder,
                                std::string_view bytes) {
  decoder.Feed(bytes);
  std::vector<PacketEvent> events;
  while (std::optional<PacketEvent> e = decoder.Take()) events.push_back(*e);
  return events;
}

std::vector<PacketEvent> Decode(std::string_view bytes) {
  PacketDecoder decoder;
  return Decode(decoder, bytes);
}

// A packet framed as is, with no escaping: for what EncodePacket would
// never produce.
std::string RawPacket(const std::string& body) {
  uint8_t sum = 0;
  for (char c : body) sum = static_cast<uint8_t>(sum + c);
  return absl::StrFormat("$%s#%02x", body, sum);
}

PacketEvent Packet(std::string payload) {
  return {Kind::kPacket, std::move(payload)};
}

TEST(EncodePacketTest, ChecksumIsLowercaseHexModulo256) {
  EXPECT_EQ(EncodePacket(""), "$#00");
  EXPECT_EQ(EncodePacket("OK"), "$OK#9a");
  // 'g' is 0x67.
  EXPECT_EQ(EncodePacket("g"), "$g#67");
  // 4 * 0xff = 0x3fc: only the low byte counts.
  EXPECT_EQ(EncodePacket("\xff\xff\xff\xff"), "$\xff\xff\xff\xff#fc");
}

TEST(EncodePacketTest, EscapesFramingCharacters) {
  // $ 0x24 -> } 0x04, # 0x23 -> } 0x03, } 0x7d -> } ]. * 0x2a -> } 0x0a.
  const std::string body = std::string("a}\x04") + "b}\x03" + "c}]d}\x0a" + "e";
  EXPECT_EQ(EncodePacket("a$b#c}d*e"), RawPacket(body));
}

TEST(EncodePacketTest, RoundTripsEveryByteThroughTheDecoder) {
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  EXPECT_EQ(Decode(EncodePacket(payload)),
            std::vector<PacketEvent>{Packet(payload)});
}

TEST(PacketDecoderTest, AcksNacksInterruptsAndGarbage) {
  EXPECT_EQ(Decode("+xyz-\x03 +"),
            (std::vector<PacketEvent>{{Kind::kAck, ""},
                                      {Kind::kNack, ""},
                                      {Kind::kInterrupt, ""},
                                      {Kind::kAck, ""}}));
}

TEST(PacketDecoderTest, PacketsSplitAcrossFeedsByteByByte) {
  const std::string stream =
      "+" + EncodePacket("qSupported:multiprocess+") + EncodePacket("g");
  PacketDecoder decoder;
  std::vector<PacketEvent> events;
  for (char c : stream) {
    for (PacketEvent& e : Decode(decoder, std::string_view(&c, 1))) {
      events.push_back(e);
    }
  }
  EXPECT_EQ(
      events,
      (std::vector<PacketEvent>{
          {Kind::kAck, ""}, Packet("qSupported:multiprocess+"), Packet("g")}));
  EXPECT_FALSE(decoder.InPacket());
}

TEST(PacketDecoderTest, ControlBytesInsideAPacketAreData) {
  // 0x03, '+' and '-' between '$' and '#' belong to the packet.
  EXPECT_EQ(Decode(EncodePacket("a\x03+-b")),
            std::vector<PacketEvent>{Packet("a\x03+-b")});
}

TEST(PacketDecoderTest, ChecksumDigitsInEitherCase) {
  EXPECT_EQ(Decode("$OK#9A"), std::vector<PacketEvent>{Packet("OK")});
}

TEST(PacketDecoderTest, BadChecksumIsReportedAndDecodingGoesOn) {
  EXPECT_EQ(
      Decode("$OK#9b$OK#zz$OK#9a"),
      (std::vector<PacketEvent>{
          {Kind::kBadChecksum, ""}, {Kind::kBadChecksum, ""}, Packet("OK")}));
}

TEST(PacketDecoderTest, DollarRestartsACutOffPacket) {
  EXPECT_EQ(Decode("$half" + EncodePacket("whole")),
            std::vector<PacketEvent>{Packet("whole")});
}

TEST(PacketDecoderTest, InPacketUntilTheChecksumEnds) {
  PacketDecoder decoder;
  EXPECT_FALSE(decoder.InPacket());
  decoder.Feed("$g#6");
  EXPECT_TRUE(decoder.InPacket());
  EXPECT_FALSE(decoder.HasEvent());
  decoder.Feed("7");
  EXPECT_FALSE(decoder.InPacket());
  EXPECT_EQ(decoder.Take(), std::optional<PacketEvent>(Packet("g")));
}

TEST(PacketDecoderTest, RunLengthEncoding) {
  // '0* ' is '0' and 3 more: "0000"; '*' after an escaped byte repeats it.
  EXPECT_EQ(Decode(RawPacket("0* 1")),
            std::vector<PacketEvent>{Packet("00001")});
  EXPECT_EQ(Decode(RawPacket("}]*!")),
            std::vector<PacketEvent>{Packet("}}}}}")});
  // Malformed: nothing to repeat, no count, unprintable count, trailing
  // escape. Each is an error event, and decoding goes on.
  for (const std::string& bad : {RawPacket("*!"), RawPacket("a*"),
                                 RawPacket("a*\x01"), RawPacket("ab}")}) {
    SCOPED_TRACE(bad);
    std::vector<PacketEvent> events = Decode(bad + EncodePacket("ok"));
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, Kind::kError);
    EXPECT_EQ(events[1], Packet("ok"));
  }
}

TEST(PacketDecoderTest, OversizedPacketIsAnErrorNotACrash) {
  PacketDecoder decoder(/*max_packet_size=*/8);
  std::vector<PacketEvent> events =
      Decode(decoder, EncodePacket("12345678") +
                          EncodePacket(std::string(100000, 'x')) +
                          EncodePacket("after"));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0], Packet("12345678"));
  EXPECT_EQ(events[1].kind, Kind::kError);
  EXPECT_NE(events[1].payload.find("longer than 8"), std::string::npos);
  EXPECT_EQ(events[2], Packet("after"));
}

TEST(PacketDecoderTest, RunLengthExpansionIsBoundedToo) {
  PacketDecoder decoder(/*max_packet_size=*/8);
  // "a" and 97 more: short on the wire, long once expanded.
  std::vector<PacketEvent> events = Decode(decoder, RawPacket("a*~"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Kind::kError);
}

TEST(HexTest, BytesRoundTrip) {
  const std::vector<uint8_t> bytes = {0x00, 0x7f, 0x80, 0xff, 0x1a};
  EXPECT_EQ(BytesToHex(bytes), "007f80ff1a");
  EXPECT_EQ(BytesToHex(std::string_view("OK")), "4f4b");
  EXPECT_EQ(HexToBytes("007F80ff1A").value(), bytes);
  EXPECT_TRUE(HexToBytes("").value().empty());
  EXPECT_FALSE(HexToBytes("abc").ok());
  EXPECT_FALSE(HexToBytes("0g").ok());
}

TEST(HexTest, LittleEndian) {
  EXPECT_EQ(LittleEndianHex(0x1122334455667788, 8), "8877665544332211");
  EXPECT_EQ(LittleEndianHex(0x1f80, 4), "801f0000");
  EXPECT_EQ(LittleEndianHex(0xabcd, 1), "cd");
  EXPECT_EQ(ParseLittleEndianHex("8877665544332211").value(),
            0x1122334455667788u);
  EXPECT_EQ(ParseLittleEndianHex("801f").value(), 0x1f80u);
  EXPECT_FALSE(ParseLittleEndianHex("").ok());
  EXPECT_FALSE(ParseLittleEndianHex("801").ok());
  EXPECT_FALSE(ParseLittleEndianHex("001122334455667788").ok());
  EXPECT_FALSE(ParseLittleEndianHex("zz").ok());
}

TEST(HexTest, Numbers) {
  EXPECT_EQ(ParseHexNumber("0").value(), 0u);
  EXPECT_EQ(ParseHexNumber("fFfF").value(), 0xffffu);
  EXPECT_EQ(ParseHexNumber("ffffffffffffffff").value(), UINT64_MAX);
  EXPECT_EQ(ParseHexNumber("00000000000000000001").value(), 1u);
  EXPECT_FALSE(ParseHexNumber("").ok());
  EXPECT_FALSE(ParseHexNumber("10000000000000000").ok());
  EXPECT_FALSE(ParseHexNumber("-1").ok());
  EXPECT_FALSE(ParseHexNumber("0x10").ok());
  EXPECT_FALSE(ParseHexNumber(" 1").ok());
}

TEST(XferReadReplyTest, ChunksAndEnd) {
  EXPECT_EQ(XferReadReply("abcdef", 0, 4), "mabcd");
  EXPECT_EQ(XferReadReply("abcdef", 4, 4), "lef");
  EXPECT_EQ(XferReadReply("abcdef", 0, 6), "labcdef");
  EXPECT_EQ(XferReadReply("abcdef", 6, 4), "l");
  EXPECT_EQ(XferReadReply("abcdef", UINT64_MAX, UINT64_MAX), "l");
  EXPECT_EQ(XferReadReply("abcdef", 2, UINT64_MAX), "lcdef");
}

TEST(ParseTest, MemoryRead) {
  absl::StatusOr<MemoryRead> r = ParseMemoryRead("mffff8000,40");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->address, 0xffff8000u);
  EXPECT_EQ(r->length, 0x40u);
  for (std::string_view bad :
       {"", "m", "m10", "m10,", "m,10", "mx,1", "m1,2,3", "M10,1", "m10,1:"}) {
    EXPECT_FALSE(ParseMemoryRead(bad).ok()) << bad;
  }
}

TEST(ParseTest, MemoryWriteHex) {
  absl::StatusOr<MemoryWrite> w = ParseMemoryWriteHex("M1000,3:0a0B0c");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->address, 0x1000u);
  EXPECT_EQ(w->data, (std::vector<uint8_t>{0x0a, 0x0b, 0x0c}));
  EXPECT_TRUE(ParseMemoryWriteHex("M1000,0:").value().data.empty());
  for (std::string_view bad : {"M1000,3:0a0b", "M1000,1:0a0b", "M1000,1",
                               "M1000,1:0", "M1000,1:zz", "Mx,1:00", "M"}) {
    EXPECT_FALSE(ParseMemoryWriteHex(bad).ok()) << bad;
  }
}

TEST(ParseTest, MemoryWriteBinary) {
  // Binary data may hold ':' and ',' (the decoder already unescaped it).
  const std::string payload = std::string("X20,4:a:,") + '\0';
  absl::StatusOr<MemoryWrite> w = ParseMemoryWriteBinary(payload);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->address, 0x20u);
  EXPECT_EQ(w->data, (std::vector<uint8_t>{'a', ':', ',', 0}));
  // gdb probes for X support with an empty write.
  EXPECT_TRUE(ParseMemoryWriteBinary("X20,0:").ok());
  for (std::string_view bad : {"X20,4:abc", "X20,0", "X,0:", "M20,0:"}) {
    EXPECT_FALSE(ParseMemoryWriteBinary(bad).ok()) << bad;
  }
}

TEST(ParseTest, Breakpoints) {
  absl::StatusOr<BreakpointRequest> z = ParseBreakpoint("Z0,401000,1");
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_TRUE(z->insert);
  EXPECT_EQ(z->type, BreakpointRequest::Type::kSoftware);
  EXPECT_EQ(z->address, 0x401000u);
  EXPECT_EQ(z->kind, 1u);
  z = ParseBreakpoint("z2,7ffc0000,8");
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_FALSE(z->insert);
  EXPECT_EQ(z->type, BreakpointRequest::Type::kWriteWatchpoint);
  EXPECT_EQ(z->kind, 8u);
  for (std::string_view bad :
       {"Z5,1000,1", "Z0,1000", "Z0", "Z", "Z0,,1", "Zx,1,1", "Z0,1000,1;X2,0a",
        "z0,1000,1,2", "m0,1000,1"}) {
    EXPECT_FALSE(ParseBreakpoint(bad).ok()) << bad;
  }
}

TEST(ParseTest, Registers) {
  EXPECT_EQ(ParseRegisterRead("p10").value(), 16);
  EXPECT_FALSE(ParseRegisterRead("p").ok());
  EXPECT_FALSE(ParseRegisterRead("pfffffffff").ok());
  EXPECT_FALSE(ParseRegisterRead("p-1").ok());
  absl::StatusOr<RegisterWrite> w = ParseRegisterWrite("P10=0010400000000000");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->regnum, 16);
  EXPECT_EQ(w->hex, "0010400000000000");
  for (std::string_view bad :
       {"P10=", "P10", "P=00", "P10=0", "P10=zz", "Pfffffffff=00", "p10=00"}) {
    EXPECT_FALSE(ParseRegisterWrite(bad).ok()) << bad;
  }
}

TEST(ParseTest, XferRead) {
  absl::StatusOr<XferRead> x =
      ParseXferRead("qXfer:features:read:target.xml:0,ffb");
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->object, "features");
  EXPECT_EQ(x->annex, "target.xml");
  EXPECT_EQ(x->offset, 0u);
  EXPECT_EQ(x->length, 0xffbu);
  x = ParseXferRead("qXfer:libraries:read::10,20");
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->annex, "");
  EXPECT_EQ(x->offset, 0x10u);
  for (std::string_view bad :
       {"qXfer:features:write:target.xml:0,1", "qXfer::read:a:0,1",
        "qXfer:features:read:target.xml", "qXfer:features:read:t:0",
        "qXfer:features", "qXfer", "qSupported"}) {
    EXPECT_FALSE(ParseXferRead(bad).ok()) << bad;
  }
}

TEST(ParseTest, ThreadIds) {
  EXPECT_EQ(ParseThreadId("1").value(), (GdbThreadId{std::nullopt, 1}));
  EXPECT_EQ(ParseThreadId("-1").value(), (GdbThreadId{std::nullopt, -1}));
  EXPECT_EQ(ParseThreadId("p2a.3").value(), (GdbThreadId{0x2a, 3}));
  EXPECT_EQ(ParseThreadId("p-1.-1").value(), (GdbThreadId{-1, -1}));
  EXPECT_EQ(ParseThreadId("p1").value(), (GdbThreadId{1, -1}));
  for (std::string_view bad : {"", "p", "p.1", "-2", "x", "p1.", "p1.2.3"}) {
    EXPECT_FALSE(ParseThreadId(bad).ok()) << bad;
  }
}

TEST(ParseTest, VCont) {
  absl::StatusOr<std::vector<VContAction>> v =
      ParseVCont("vCont;s:p1.1;C0b:2;r1000,2000:1;c");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 4u);
  EXPECT_EQ((*v)[0].kind, VContAction::Kind::kStep);
  EXPECT_EQ((*v)[0].thread, (GdbThreadId{1, 1}));
  EXPECT_FALSE((*v)[0].signal.has_value());
  EXPECT_EQ((*v)[1].kind, VContAction::Kind::kContinue);
  EXPECT_EQ((*v)[1].signal, std::optional<uint8_t>(0x0b));
  EXPECT_EQ((*v)[2].kind, VContAction::Kind::kRangeStep);
  EXPECT_EQ((*v)[2].range_start, 0x1000u);
  EXPECT_EQ((*v)[2].range_end, 0x2000u);
  EXPECT_EQ((*v)[3].kind, VContAction::Kind::kContinue);
  EXPECT_FALSE((*v)[3].thread.has_value());
  EXPECT_EQ(ParseVCont("vCont;t").value()[0].kind, VContAction::Kind::kStop);
  for (std::string_view bad :
       {"vCont?", "vCont", "vCont;", "vCont;c;", "vCont;x", "vCont;cc",
        "vCont;C", "vCont;C100", "vCont;r1000", "vCont;c:", "vCont;s:zz",
        "vContc", "vCont;;c"}) {
    EXPECT_FALSE(ParseVCont(bad).ok()) << bad;
  }
}

// Every prefix of every valid packet, and a few byte flips, through every
// parser: an error or a value, never a crash (ASan/UBSan builds see the
// rest).
TEST(ParseTest, TruncatedAndCorruptedInputNeverCrashes) {
  const std::vector<std::string> samples = {
      "m1000,40",        "M1000,2:abcd",
      "X1000,2:ab",      "Z0,1000,1",
      "z1,1000,1",       "p10",
      "P10=00000000",    "qXfer:features:read:target.xml:0,ffb",
      "vCont;c:p1.-1;s", "vCont;r10,20:1;C05"};
  for (const std::string& sample : samples) {
    for (size_t n = 0; n <= sample.size(); ++n) {
      std::string text = sample.substr(0, n);
      for (int flip = -1; flip < static_cast<int>(text.size()); ++flip) {
        std::string t = text;
        if (flip >= 0) t[flip] = static_cast<char>(t[flip] ^ 0x55);
        (void)ParseMemoryRead(t);
        (void)ParseMemoryWriteHex(t);
        (void)ParseMemoryWriteBinary(t);
        (void)ParseBreakpoint(t);
        (void)ParseRegisterRead(t);
        (void)ParseRegisterWrite(t);
        (void)ParseXferRead(t);
        (void)ParseVCont(t);
        (void)ParseThreadId(t);
      }
    }
  }
}

TEST(ParseTest, ErrorsNameThePacket) {
  absl::Status s = ParseMemoryRead("m10").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("malformed m packet \"m10\""),
            absl::string_view::npos)
      << s;
}

}  // namespace
}  // namespace xv
