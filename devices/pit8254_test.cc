#include "devices/pit8254.h"

#include <optional>

#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

class PitTest : public ::testing::Test {
 protected:
  void SetUp() override { Advance(0); }

  void Out(uint16_t port, uint8_t v) { pit_.PioWrite(port, {&v, 1}); }
  uint8_t In(uint16_t port) {
    uint8_t v = 0;
    pit_.PioRead(port, {&v, 1});
    return v;
  }
  uint16_t ReadLoHi(uint16_t port) {
    const uint8_t lo = In(port);
    return static_cast<uint16_t>(lo | In(port) << 8);
  }
  void Advance(uint64_t ns) {
    clock_.AdvanceTo(ns);
    pit_.OnClockAdvanced();
  }
  void AdvanceToTick(uint64_t tick) { Advance(Pit8254::NsOfTick(tick)); }
  // Channel 0, LSB/MSB access, `mode`, binary, count `n`.
  void Program0(int mode, uint16_t n) {
    Out(0x43, static_cast<uint8_t>(0x30 | mode << 1));
    Out(0x40, static_cast<uint8_t>(n));
    Out(0x40, static_cast<uint8_t>(n >> 8));
  }
  int Edges() const { return irq_.rising_edges[0]; }
  bool Level() const { return irq_.levels[0]; }

  VirtualClock clock_;
  RecordingIrqSink irq_;
  Pit8254 pit_{&clock_, &irq_, 0};
};

TEST(PitTicksTest, TickArithmeticIsExactAndRoundsUp) {
  EXPECT_EQ(Pit8254::TicksAt(0), 0u);
  EXPECT_EQ(Pit8254::TicksAt(1'000'000'000), 1193182u);
  EXPECT_EQ(Pit8254::TicksAt(838), 0u);  // one tick is 838.095 ns
  EXPECT_EQ(Pit8254::TicksAt(839), 1u);
  EXPECT_EQ(Pit8254::NsOfTick(1), 839u);
  EXPECT_EQ(Pit8254::NsOfTick(1193182), 1'000'000'000u);
  // Far in the future (a year of uptime) the 128-bit math still holds.
  const uint64_t year_ns = 365ull * 86400 * 1'000'000'000;
  const uint64_t t = Pit8254::TicksAt(year_ns);
  EXPECT_EQ(t, 37'628'187'552'000ull);
  for (uint64_t tick : {uint64_t{1}, uint64_t{1193}, uint64_t{65536},
                        uint64_t{11932}, t, t + 7}) {
    const uint64_t ns = Pit8254::NsOfTick(tick);
    EXPECT_EQ(Pit8254::TicksAt(ns), tick);
    EXPECT_EQ(Pit8254::TicksAt(ns - 1), tick - 1);
  }
}

TEST_F(PitTest, PowerOnIsMode3At18HzDrivingIrq0) {
  EXPECT_TRUE(Level());
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(65536));
  AdvanceToTick(32768);
  EXPECT_FALSE(Level());
  const int before = Edges();
  AdvanceToTick(65536);
  EXPECT_TRUE(Level());
  EXPECT_EQ(Edges(), before + 1);
}

TEST_F(PitTest, Mode2RaisesOneEdgePerPeriodAtTheExactTime) {
  Program0(2, 1193);
  irq_.ClearCounts();
  const std::optional<uint64_t> deadline = pit_.NextDeadlineNs();
  ASSERT_TRUE(deadline.has_value());
  EXPECT_EQ(*deadline, Pit8254::NsOfTick(1193));
  EXPECT_EQ(*deadline, 999848u);
  // OUT is low for the one clock before the period ends.
  AdvanceToTick(1191);
  EXPECT_TRUE(Level());
  AdvanceToTick(1192);
  EXPECT_FALSE(Level());
  Advance(*deadline - 1);
  EXPECT_EQ(Edges(), 0);
  Advance(*deadline);
  EXPECT_EQ(Edges(), 1);
  EXPECT_TRUE(Level());
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(2386));
  // The counter counts down from 1193 and reloads.
  AdvanceToTick(1193 + 100);
  Out(0x43, 0x00);  // latch counter 0
  AdvanceToTick(1193 + 500);
  EXPECT_EQ(ReadLoHi(0x40), 1093);  // the latched value
  EXPECT_EQ(ReadLoHi(0x40), 693);   // live again
}

TEST_F(PitTest, ManyPeriodsInOneAdvanceCollapseIntoOnePulse) {
  Program0(2, 100);
  irq_.ClearCounts();
  AdvanceToTick(1050);  // ten periods passed
  EXPECT_EQ(Edges(), 1);
  EXPECT_TRUE(Level());
  // The pulse drove the line low first, then high.
  ASSERT_EQ(irq_.calls.size(), 2u);
  EXPECT_EQ(irq_.calls[0], (RecordingIrqSink::Call{0, false}));
  EXPECT_EQ(irq_.calls[1], (RecordingIrqSink::Call{0, true}));
  // Ending inside the low clock leaves the line low.
  irq_.ClearCounts();
  AdvanceToTick(1299);
  EXPECT_EQ(Edges(), 1);
  EXPECT_FALSE(Level());
}

TEST_F(PitTest, Mode3SquareWaveLevelsAndCountByTwo) {
  Program0(3, 10);
  irq_.ClearCounts();
  AdvanceToTick(4);
  EXPECT_TRUE(Level());
  EXPECT_EQ(ReadLoHi(0x40), 2);
  AdvanceToTick(5);
  EXPECT_FALSE(Level());
  EXPECT_EQ(ReadLoHi(0x40), 10);
  AdvanceToTick(6);
  EXPECT_EQ(ReadLoHi(0x40), 8);
  AdvanceToTick(10);
  EXPECT_TRUE(Level());
  EXPECT_EQ(Edges(), 1);
  // Odd count: high for (n+1)/2 clocks.
  Program0(3, 5);
  const uint64_t start = Pit8254::TicksAt(clock_.now_ns());
  AdvanceToTick(start + 2);
  EXPECT_TRUE(pit_.Out(0));
  AdvanceToTick(start + 3);
  EXPECT_FALSE(pit_.Out(0));
  AdvanceToTick(start + 5);
  EXPECT_TRUE(pit_.Out(0));
}

TEST_F(PitTest, Mode0InterruptsOnceOnTerminalCountAndWraps) {
  Program0(0, 100);
  EXPECT_FALSE(Level());  // OUT goes low as soon as mode 0 is programmed
  irq_.ClearCounts();
  AdvanceToTick(99);
  EXPECT_FALSE(Level());
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(100));
  AdvanceToTick(100);
  EXPECT_EQ(Edges(), 1);
  EXPECT_TRUE(Level());
  EXPECT_EQ(pit_.NextDeadlineNs(), std::nullopt);
  AdvanceToTick(150);
  EXPECT_EQ(ReadLoHi(0x40), 65536 - 50);  // keeps counting through zero
  EXPECT_EQ(Edges(), 1);
}

TEST_F(PitTest, Mode0FirstByteStopsCountingUntilTheSecond) {
  Program0(0, 100);
  AdvanceToTick(50);
  Out(0x40, 200);  // LSB of a new count: counting stops, OUT stays low
  irq_.ClearCounts();
  AdvanceToTick(400);
  EXPECT_EQ(Edges(), 0);
  EXPECT_FALSE(Level());
  Out(0x40, 0);  // MSB: count 200 starts now
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(600));
  AdvanceToTick(600);
  EXPECT_EQ(Edges(), 1);
}

TEST_F(PitTest, Mode4StrobesLowForOneClock) {
  Program0(4, 10);
  EXPECT_TRUE(Level());
  irq_.ClearCounts();
  AdvanceToTick(9);
  EXPECT_TRUE(Level());
  AdvanceToTick(10);
  EXPECT_FALSE(Level());
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(11));
  AdvanceToTick(11);
  EXPECT_TRUE(Level());
  EXPECT_EQ(Edges(), 1);
  AdvanceToTick(70000);
  EXPECT_EQ(Edges(), 1);
}

TEST_F(PitTest, Mode2NewCountTakesEffectAtTheEndOfThePeriod) {
  Program0(2, 100);
  AdvanceToTick(150);
  Out(0x40, 40);
  Out(0x40, 0);
  // Still the old period: the next edge is at 200.
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(200));
  EXPECT_EQ(ReadLoHi(0x40), 50);
  AdvanceToTick(200);
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(240));
  AdvanceToTick(210);
  EXPECT_EQ(ReadLoHi(0x40), 30);
  irq_.ClearCounts();
  // Across the switch in one advance: edges at 240, 280 collapse.
  AdvanceToTick(290);
  EXPECT_EQ(Edges(), 1);
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(320));
}

TEST_F(PitTest, PendingReloadCrossedInOneAdvanceStillCountsTheOldEdge) {
  Program0(2, 100);
  AdvanceToTick(150);
  Out(0x40, 200);  // 200 from tick 200 on: next edges 200, 400
  Out(0x40, 0);
  irq_.ClearCounts();
  AdvanceToTick(250);  // crosses only the old period's edge at 200
  EXPECT_EQ(Edges(), 1);
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(400));
}

TEST_F(PitTest, CountZeroMeans65536AndAccessModes) {
  Program0(2, 0);
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(65536));
  EXPECT_EQ(ReadLoHi(0x40), 0);  // 65536 reads as 0
  // LSB only.
  Out(0x43, 0x14);
  Out(0x40, 100);
  const uint64_t start = Pit8254::TicksAt(clock_.now_ns());
  AdvanceToTick(start + 1);
  EXPECT_EQ(In(0x40), 99);
  EXPECT_EQ(In(0x40), 99);  // no MSB toggling
  // MSB only: count 0x0100.
  Out(0x43, 0x24);
  Out(0x40, 0x01);
  EXPECT_EQ(pit_.NextDeadlineNs(),
            Pit8254::NsOfTick(Pit8254::TicksAt(clock_.now_ns()) + 256));
  EXPECT_EQ(In(0x40), 0x01);
}

TEST_F(PitTest, ReadBackLatchesStatusThenCount) {
  Out(0x43, 0x34);  // counter 0, LSB/MSB, mode 2
  // Before the count: NULL COUNT set, OUT high.
  Out(0x43, 0xe2);
  EXPECT_EQ(In(0x40), 0xf4);
  Out(0x40, 0xe8);
  Out(0x40, 0x03);  // 1000
  AdvanceToTick(1);
  Out(0x43, 0xc2);  // latch status and count
  AdvanceToTick(300);
  EXPECT_EQ(In(0x40), 0xb4);  // OUT high, count loaded, LSB/MSB, mode 2
  EXPECT_EQ(ReadLoHi(0x40), 999);
  // A latched count is kept across a second latch until read.
  Out(0x43, 0x00);
  AdvanceToTick(400);
  Out(0x43, 0x00);
  EXPECT_EQ(ReadLoHi(0x40), 700);
  // Status of counter 2 (mode 3, gate low at power-on): OUT forced high.
  Out(0x43, 0xe8);
  EXPECT_EQ(In(0x42), 0xb6);
  // The control port reads 0, as in QEMU.
  EXPECT_EQ(In(0x43), 0x00);
}

TEST_F(PitTest, BcdCounting) {
  Out(0x43, 0x35);  // mode 2, BCD
  Out(0x40, 0x00);
  Out(0x40, 0x10);  // 1000 decimal
  EXPECT_EQ(pit_.NextDeadlineNs(), Pit8254::NsOfTick(1000));
  AdvanceToTick(1);
  EXPECT_EQ(ReadLoHi(0x40), 0x0999);
}

TEST_F(PitTest, Port61GatesCounter2AndReadsItsOut) {
  // The way Linux calibrates against the PIT: gate on, speaker off, mode 0.
  Out(0x61, static_cast<uint8_t>((In(0x61) & ~0x02) | 0x01));
  Out(0x43, 0xb0);
  Out(0x42, 11932 & 0xff);
  Out(0x42, 11932 >> 8);
  AdvanceToTick(11931);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  AdvanceToTick(11932);
  EXPECT_EQ(In(0x61) & 0x21, 0x21);
  // Gate low pauses mode 0.
  Out(0x43, 0xb0);
  Out(0x42, 100);
  Out(0x42, 0);
  const uint64_t start = Pit8254::TicksAt(clock_.now_ns());
  AdvanceToTick(start + 40);
  Out(0x61, 0x02);  // gate off, speaker data on
  EXPECT_EQ(In(0x61) & 0x03, 0x02);
  AdvanceToTick(start + 1000);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  Out(0x61, 0x01);
  AdvanceToTick(start + 1059);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  AdvanceToTick(start + 1060);
  EXPECT_EQ(In(0x61) & 0x20, 0x20);
  // Counter 2 never touches IRQ0.
  EXPECT_TRUE(Level());
}

TEST_F(PitTest, RefreshBitTogglesWithVirtualTime) {
  EXPECT_EQ(In(0x61) & 0x10, 0);
  EXPECT_EQ(In(0x61) & 0x10, 0);  // reading alone does not toggle it
  Advance(15085);
  EXPECT_EQ(In(0x61) & 0x10, 0x10);
  Advance(uint64_t{2} * 15085);
  EXPECT_EQ(In(0x61) & 0x10, 0);
}

TEST_F(PitTest, Mode1And5AreTriggeredByTheGate) {
  Out(0x43, 0xb2);  // counter 2, mode 1
  Out(0x42, 50);
  Out(0x42, 0);
  AdvanceToTick(10);
  EXPECT_EQ(In(0x61) & 0x20, 0x20);  // waiting for a trigger: OUT high
  Out(0x61, 0x01);                   // trigger at tick 10
  EXPECT_EQ(In(0x61) & 0x20, 0);
  AdvanceToTick(40);
  Out(0x61, 0x00);
  Out(0x61, 0x01);  // retrigger at 40: OUT stays low until 90
  AdvanceToTick(89);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  AdvanceToTick(90);
  EXPECT_EQ(In(0x61) & 0x20, 0x20);

  Out(0x61, 0x00);
  Out(0x43, 0xba);  // counter 2, mode 5
  Out(0x42, 20);
  Out(0x42, 0);
  AdvanceToTick(100);
  Out(0x61, 0x01);  // trigger at 100
  AdvanceToTick(119);
  EXPECT_EQ(In(0x61) & 0x20, 0x20);
  AdvanceToTick(120);
  EXPECT_EQ(In(0x61) & 0x20, 0);
  AdvanceToTick(121);
  EXPECT_EQ(In(0x61) & 0x20, 0x20);
}

TEST_F(PitTest, DeadlinesAlwaysCrossTheEdge) {
  for (uint16_t n : {2, 3, 7, 1000, 1193, 11932, 65535}) {
    Program0(2, n);
    for (int period = 0; period < 3; ++period) {
      const std::optional<uint64_t> d = pit_.NextDeadlineNs();
      ASSERT_TRUE(d.has_value());
      irq_.ClearCounts();
      Advance(*d - 1);
      EXPECT_EQ(Edges(), 0) << "count " << n;
      Advance(*d);
      EXPECT_EQ(Edges(), 1) << "count " << n;
    }
  }
}

TEST_F(PitTest, LoadStateRejectsNonsense) {
  StateWriter w;
  pit_.SaveState(w);
  std::vector<uint8_t> bad = w.bytes();
  bad[1] = 0;  // access mode 0 of counter 0
  StateReader r(bad, "state of pit");
  EXPECT_FALSE(pit_.LoadState(r).ok());
}

}  // namespace
}  // namespace xv
