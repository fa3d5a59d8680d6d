#include "devices/cmos_rtc.h"

#include <memory>
#include <optional>

#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;
// 2024-02-28 23:59:58 UTC, a Wednesday, two seconds before a leap day.
constexpr int64_t kLeapEve = 1709164798;
// 2099-12-31 23:59:59 UTC, a Thursday.
constexpr int64_t kCenturyEve = 4102444799;
// 2024-06-15 11:59:58 UTC, a Saturday.
constexpr int64_t kNoonEve = 1718452798;

class RtcTest : public ::testing::Test {
 protected:
  void Start(int64_t epoch) {
    clock_.Restore(0);
    rtc_ = std::make_unique<CmosRtc>(&clock_, &irq_, 8, epoch);
    rtc_->OnClockAdvanced();
  }
  void SetUp() override { Start(kLeapEve); }

  void Write(uint8_t index, uint8_t v) {
    uint8_t i = index;
    rtc_->PioWrite(0x70, {&i, 1});
    rtc_->PioWrite(0x71, {&v, 1});
  }
  uint8_t Read(uint8_t index) {
    uint8_t i = index;
    uint8_t v = 0;
    rtc_->PioWrite(0x70, {&i, 1});
    rtc_->PioRead(0x71, {&v, 1});
    return v;
  }
  void Advance(uint64_t ns) {
    clock_.AdvanceTo(ns);
    rtc_->OnClockAdvanced();
  }
  bool Irq() const { return irq_.levels[8]; }
  int Edges() const { return irq_.rising_edges[8]; }

  VirtualClock clock_;
  RecordingIrqSink irq_;
  std::unique_ptr<CmosRtc> rtc_;
};

TEST_F(RtcTest, PowerOnRegistersAndBcdTime) {
  EXPECT_EQ(Read(0x0a), 0x26);
  EXPECT_EQ(Read(0x0b), 0x02);
  EXPECT_EQ(Read(0x0c), 0x00);
  EXPECT_EQ(Read(0x0d), 0x80);
  EXPECT_EQ(Read(0x00), 0x58);
  EXPECT_EQ(Read(0x02), 0x59);
  EXPECT_EQ(Read(0x04), 0x23);
  EXPECT_EQ(Read(0x06), 0x04);  // Wednesday (1 = Sunday)
  EXPECT_EQ(Read(0x07), 0x28);
  EXPECT_EQ(Read(0x08), 0x02);
  EXPECT_EQ(Read(0x09), 0x24);
  EXPECT_EQ(Read(0x32), 0x20);
  EXPECT_EQ(Read(0x37), 0x20);  // PS/2 alias of the century
  EXPECT_FALSE(Irq());
}

TEST_F(RtcTest, VirtualTimeRollsIntoTheLeapDayAndMarch) {
  Advance(2 * kSecond - 1);
  EXPECT_EQ(Read(0x00), 0x59);
  Advance(2 * kSecond);
  EXPECT_EQ(Read(0x00), 0x00);
  EXPECT_EQ(Read(0x04), 0x00);
  EXPECT_EQ(Read(0x07), 0x29);
  EXPECT_EQ(Read(0x06), 0x05);  // Thursday
  Advance((2 + 86400) * kSecond);
  EXPECT_EQ(Read(0x07), 0x01);
  EXPECT_EQ(Read(0x08), 0x03);
  EXPECT_EQ(rtc_->CountedSeconds(), kLeapEve + 2 + 86400);
}

TEST_F(RtcTest, CenturyRollover) {
  Start(kCenturyEve);
  EXPECT_EQ(Read(0x09), 0x99);
  EXPECT_EQ(Read(0x32), 0x20);
  Advance(kSecond);
  EXPECT_EQ(Read(0x09), 0x00);
  EXPECT_EQ(Read(0x32), 0x21);
  EXPECT_EQ(Read(0x08), 0x01);
  EXPECT_EQ(Read(0x07), 0x01);
}

TEST_F(RtcTest, BinaryAndTwelveHourFormats) {
  Write(0x0b, 0x06);  // binary, 24 h
  EXPECT_EQ(Read(0x00), 58);
  EXPECT_EQ(Read(0x04), 23);
  EXPECT_EQ(Read(0x09), 24);
  Write(0x0b, 0x00);            // BCD, 12 h
  EXPECT_EQ(Read(0x04), 0x91);  // 11 PM
  Advance(2 * kSecond);
  EXPECT_EQ(Read(0x04), 0x12);  // 12 AM
  Write(0x0b, 0x04);            // binary, 12 h
  EXPECT_EQ(Read(0x04), 12);
  Start(kNoonEve);
  Write(0x0b, 0x00);
  EXPECT_EQ(Read(0x04), 0x11);  // 11 AM
  Advance(2 * kSecond);
  EXPECT_EQ(Read(0x04), 0x92);  // 12 PM
  Advance((2 + 3600) * kSecond);
  EXPECT_EQ(Read(0x04), 0x81);  // 1 PM
}

TEST_F(RtcTest, UpdateInProgressForTheLast244UsOfEachSecond) {
  Advance(kSecond - 244141);
  EXPECT_EQ(Read(0x0a) & 0x80, 0);
  Advance(kSecond - 244140);
  EXPECT_EQ(Read(0x0a), 0xa6);
  Advance(kSecond - 1);
  EXPECT_EQ(Read(0x0a) & 0x80, 0x80);
  Advance(kSecond);
  EXPECT_EQ(Read(0x0a) & 0x80, 0);
  Write(0x0a, 0xa6);  // UIP is read-only
  EXPECT_EQ(Read(0x0a), 0x26);
}

TEST_F(RtcTest, UpdateEndedInterruptEverySecondAndRegisterCClears) {
  Write(0x0b, 0x12);  // UIE
  EXPECT_EQ(rtc_->NextDeadlineNs(), kSecond);
  Advance(kSecond / 2);
  EXPECT_FALSE(Irq());
  Advance(kSecond);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(Edges(), 1);
  EXPECT_EQ(rtc_->NextDeadlineNs(), std::nullopt);  // high until C is read
  EXPECT_EQ(Read(0x0c), 0x90);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(Read(0x0c), 0x00);
  EXPECT_EQ(rtc_->NextDeadlineNs(), 2 * kSecond);
  // Several seconds in one advance: one edge.
  Advance(5 * kSecond + 3);
  EXPECT_EQ(Edges(), 2);
  // 0x00:0x00:0x00 in the alarm registers is midnight, crossed at 2 s.
  EXPECT_EQ(Read(0x0c), 0xb0);
}

TEST_F(RtcTest, UpdateFlagIsSetForPollingGuestsWithoutInterrupt) {
  Advance(kSecond);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(rtc_->NextDeadlineNs(), std::nullopt);
  EXPECT_EQ(Read(0x0c), 0x10);
  // Enabling UIE with UF already set raises IRQ8 at once.
  Advance(2 * kSecond);
  Write(0x0b, 0x12);
  EXPECT_TRUE(Irq());
  Write(0x0b, 0x02);
  EXPECT_FALSE(Irq());
}

TEST_F(RtcTest, PeriodicInterruptAtTheProgrammedRate) {
  Write(0x0b, 0x42);  // PIE, rate 6 from register A: 1024 Hz
  EXPECT_EQ(rtc_->NextDeadlineNs(), 976563u);
  Advance(976562);
  EXPECT_FALSE(Irq());
  Advance(976563);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(Read(0x0c), 0xc0);
  EXPECT_EQ(rtc_->NextDeadlineNs(), 1953125u);
  // Rate 15: 2 Hz.
  Write(0x0a, 0x2f);
  EXPECT_EQ(rtc_->NextDeadlineNs(), kSecond / 2);
  // Rate 0 disables; PF is not set without PIE (as in QEMU).
  Write(0x0a, 0x20);
  Write(0x0b, 0x02);
  Advance(3 * kSecond);
  EXPECT_EQ(Read(0x0c) & 0x40, 0);
}

TEST_F(RtcTest, AlarmAtAGivenTime) {
  Write(0x01, 0x05);
  Write(0x03, 0x00);
  Write(0x05, 0x00);  // 00:00:05, 7 s after power-on
  Write(0x0b, 0x22);  // AIE
  EXPECT_EQ(rtc_->NextDeadlineNs(), 7 * kSecond);
  Advance(7 * kSecond - 1);
  EXPECT_FALSE(Irq());
  EXPECT_EQ(Read(0x0c), 0x10);  // updates happened, no alarm yet
  Advance(7 * kSecond);
  EXPECT_TRUE(Irq());
  EXPECT_EQ(Read(0x0c), 0xb0);
  // Next one a day later.
  EXPECT_EQ(rtc_->NextDeadlineNs(), (7 + 86400) * kSecond);
}

TEST_F(RtcTest, AlarmDontCareValues) {
  Write(0x01, 0x30);
  Write(0x03, 0xc0);
  Write(0x05, 0xff);  // every minute at :30
  Write(0x0b, 0x22);
  // 23:59:58 -> 00:00:30 is 32 s away.
  EXPECT_EQ(rtc_->NextDeadlineNs(), 32 * kSecond);
  // Crossing the match inside a long advance still sets AF.
  Advance(100 * kSecond);
  EXPECT_EQ(Read(0x0c), 0xb0);
  EXPECT_EQ(rtc_->NextDeadlineNs(), 152 * kSecond);
  Write(0x01, 0xc0);  // every second
  EXPECT_EQ(rtc_->NextDeadlineNs(), 101 * kSecond);
  Write(0x01, 0x75);  // 75 s never matches
  EXPECT_EQ(rtc_->NextDeadlineNs(), std::nullopt);
}

TEST_F(RtcTest, TwelveHourAlarmWithPmBit) {
  Write(0x0b, 0x20);  // AIE, BCD, 12 h
  Write(0x01, 0x00);
  Write(0x03, 0x00);
  Write(0x05, 0x81);  // 1 PM
  // From 23:59:58 the next 13:00:00 is 13 h 2 s away.
  EXPECT_EQ(rtc_->NextDeadlineNs(), (13 * 3600 + 2) * kSecond);
}

TEST_F(RtcTest, SetFreezesTheRegistersAndResumesWithThePhaseKept) {
  Advance(kSecond * 3 / 10);
  Write(0x0b, 0x92);  // SET (and UIE, which SET clears)
  EXPECT_EQ(Read(0x0b), 0x82);
  Advance(kSecond * 53 / 10);
  EXPECT_EQ(Read(0x00), 0x58);  // frozen
  EXPECT_EQ(Read(0x0c), 0x00);  // no update cycles while SET
  Write(0x00, 0x10);
  Write(0x02, 0x00);
  Write(0x04, 0x12);
  EXPECT_EQ(Read(0x00), 0x10);
  Write(0x0b, 0x02);  // resume at t = 5.3 s, 12:00:10
  Advance(kSecond * 59 / 10);
  EXPECT_EQ(Read(0x00), 0x10);
  EXPECT_EQ(Read(0x04), 0x12);
  Advance(kSecond * 6);
  EXPECT_EQ(Read(0x00), 0x11);
  EXPECT_EQ(Read(0x07), 0x28);
}

TEST_F(RtcTest, WritingATimeFieldWhileRunning) {
  Advance(kSecond / 4);
  Write(0x00, 0x30);
  EXPECT_EQ(Read(0x00), 0x30);
  EXPECT_EQ(Read(0x02), 0x59);
  Advance(kSecond);
  EXPECT_EQ(Read(0x00), 0x31);
  Write(0x09, 0x25);  // year 2025
  EXPECT_EQ(Read(0x09), 0x25);
  EXPECT_EQ(Read(0x32), 0x20);
  Write(0x06, 0x01);            // the weekday follows the date
  EXPECT_EQ(Read(0x06), 0x06);  // 2025-02-28 is a Friday
}

TEST_F(RtcTest, DividerResetHoldsTimeAndRestartsHalfASecondLater) {
  Advance(kSecond / 5);
  Write(0x0a, 0x76);
  Advance(3 * kSecond);
  EXPECT_EQ(Read(0x00), 0x58);
  EXPECT_EQ(Read(0x0a) & 0x80, 0);
  Write(0x0a, 0x26);
  Advance(3 * kSecond + kSecond / 2 - 1);
  EXPECT_EQ(Read(0x00), 0x58);
  Advance(3 * kSecond + kSecond / 2);
  EXPECT_EQ(Read(0x00), 0x59);
}

TEST_F(RtcTest, IndexPortNmiBitAndCmosRam) {
  uint8_t index = 0x8f;
  rtc_->PioWrite(0x70, {&index, 1});
  EXPECT_TRUE(rtc_->nmi_disabled());
  uint8_t v = 0x42;
  rtc_->PioWrite(0x71, {&v, 1});
  EXPECT_EQ(Read(0x0f), 0x42);  // the index ignored bit 7
  EXPECT_FALSE(rtc_->nmi_disabled());
  uint8_t port70 = 0;
  rtc_->PioRead(0x70, {&port70, 1});
  EXPECT_EQ(port70, 0xff);
  for (int i = 0x40; i < 0x80; ++i) Write(i, static_cast<uint8_t>(i ^ 0x5a));
  for (int i = 0x40; i < 0x80; ++i) EXPECT_EQ(Read(i), i ^ 0x5a);
  EXPECT_EQ(Read(0x10), 0x00);  // the rest starts zeroed
  Write(0x0d, 0x00);
  EXPECT_EQ(Read(0x0d), 0x80);
  Write(0x0c, 0xff);
  EXPECT_EQ(Read(0x0c), 0x00);
}

TEST_F(RtcTest, LoadStateRejectsBadRegisters) {
  StateWriter w;
  rtc_->SaveState(w);
  std::vector<uint8_t> bad = w.bytes();
  bad[4 + 0x0d] = 0x00;  // register D must read VRT
  StateReader r(bad, "state of rtc");
  EXPECT_FALSE(rtc_->LoadState(r).ok());
  EXPECT_EQ(Read(0x0d), 0x80);
}

}  // namespace
}  // namespace xv
