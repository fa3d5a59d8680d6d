#include "devices/pc_platform.h"

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "devices/pit8254.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr uint64_t kMs = 1'000'000;

void Out(PcPlatform& p, uint16_t port, uint8_t v) { p.PioWrite(port, {&v, 1}); }
uint8_t In(PcPlatform& p, uint16_t port) {
  uint8_t v = 0;
  p.PioRead(port, {&v, 1});
  return v;
}

// The guest SDK's PIC setup: vectors 0x20/0x28, automatic EOI.
void InitPic(PcPlatform& p) {
  for (uint16_t base : {0x20, 0xa0}) {
    Out(p, base, 0x11);
    Out(p, base + 1, base == 0x20 ? 0x20 : 0x28);
    Out(p, base + 1, base == 0x20 ? 0x04 : 0x02);
    Out(p, base + 1, 0x03);
    Out(p, base + 1, 0x00);
  }
}

std::vector<uint8_t> SectorData(uint64_t lba, uint32_t count) {
  std::vector<uint8_t> v(size_t{count} * 512);
  for (size_t i = 0; i < v.size(); ++i) {
    v[i] = static_cast<uint8_t>(lba * 31 + i);
  }
  return v;
}

TEST(PcPlatformTest, FrontEndsInTheDocumentedOrder) {
  RecordingOutputSink sink;
  PcPlatform p({.disk_sectors = 8}, &sink);
  std::vector<std::string> names;
  for (const FrontEnd* f : static_cast<const PcPlatform&>(p).front_ends()) {
    names.emplace_back(f->name());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"pic", "pit", "rtc", "uart0",
                                             "ata0", "debug_exit", "vro"}));
  EXPECT_EQ(p.front_ends().size(), names.size());
}

// A deadline counts only if its interrupt can reach the CPU: an idle guest
// that masked the PIT must not be woken (or kept alive) by it.
TEST(PcPlatformTest, DeadlinesOfMaskedLinesDoNotCount) {
  RecordingOutputSink sink;
  PcPlatform p({}, &sink);
  InitPic(p);  // every line unmasked
  // Power-on PIT: mode 3, count 65536, so OUT0 rises every ~54.9 ms.
  ASSERT_TRUE(p.NextDeadlineNs().has_value());
  const uint64_t pit_deadline = *p.NextDeadlineNs();
  Out(p, 0x21, 0x01);  // mask IRQ0
  EXPECT_EQ(p.NextDeadlineNs(), std::nullopt);
  Out(p, 0x21, 0x00);
  EXPECT_EQ(p.NextDeadlineNs(), pit_deadline);
  // The RTC's periodic interrupt (IRQ8) needs both its slave line and the
  // cascade (IRQ2) unmasked.
  Out(p, 0x21, 0x01);
  Out(p, 0x70, 0x0b);
  Out(p, 0x71, 0x42);  // PIE, 24-hour mode
  ASSERT_TRUE(p.NextDeadlineNs().has_value());
  Out(p, 0x21, 0x05);  // and the cascade
  EXPECT_EQ(p.NextDeadlineNs(), std::nullopt);
  Out(p, 0x21, 0x01);
  Out(p, 0xa1, 0x01);  // IRQ8 itself
  EXPECT_EQ(p.NextDeadlineNs(), std::nullopt);
}

TEST(PcPlatformTest, PortDispatch) {
  RecordingOutputSink sink;
  PcPlatform p({.disk_sectors = 8}, &sink);
  struct Case {
    uint16_t port;
    const char* owner;
  };
  for (const Case& c : std::vector<Case>{{0x20, "pic"},
                                         {0xa1, "pic"},
                                         {0x4d0, "pic"},
                                         {0x40, "pit"},
                                         {0x43, "pit"},
                                         {0x61, "pit"},
                                         {0x70, "rtc"},
                                         {0x71, "rtc"},
                                         {0x3f8, "uart0"},
                                         {0x3ff, "uart0"},
                                         {0x1f0, "ata0"},
                                         {0x1f7, "ata0"},
                                         {0x3f6, "ata0"},
                                         {0xf4, "debug_exit"},
                                         {0xf7, "debug_exit"},
                                         {0x80, "vro"}}) {
    uint8_t v = 0;
    const FrontEnd* f = p.PioRead(c.port, {&v, 1});
    ASSERT_NE(f, nullptr) << c.port;
    EXPECT_EQ(f->name(), c.owner) << c.port;
  }
  // Unclaimed ports: all ones, writes ignored.
  for (uint16_t port :
       {0x00, 0x60, 0x64, 0x2f8, 0x3f7, 0x1f8, 0xf8, 0x81, 0xcf8, 0xffff}) {
    uint8_t v = 0;
    EXPECT_EQ(p.PioRead(port, {&v, 1}), nullptr) << port;
    EXPECT_EQ(v, 0xff) << port;
    EXPECT_EQ(p.PioWrite(port, {&v, 1}), nullptr) << port;
  }
  for (uint16_t port : {0x2f8, 0xcf8, 0x1f8, 0x500}) {
    uint8_t four[4] = {0, 0, 0, 0};
    EXPECT_EQ(p.PioRead(port, four), nullptr) << port;
    for (uint8_t b : four) EXPECT_EQ(b, 0xff) << port;
    EXPECT_EQ(p.PioWrite(port, four), nullptr) << port;
  }
  EXPECT_TRUE(sink.outputs.empty());
  // A wide access that starts on an unclaimed port still reaches the
  // devices it covers, byte by byte: here the UART's THR at 0x3f8.
  const uint8_t wide[2] = {0x00, 'q'};
  EXPECT_EQ(p.PioWrite(0x3f7, wide), nullptr);
  EXPECT_EQ(sink.SerialText(), "q");
}

TEST(PcPlatformTest, WideAccessesSplitIntoBytesExceptWhereTakenWhole) {
  RecordingOutputSink sink;
  PcPlatform p({.disk_sectors = 8}, &sink);
  Out(p, 0x21, 0x5a);
  uint8_t two[2] = {0, 0};
  p.PioRead(0x20, two);  // IRR, then IMR
  EXPECT_EQ(two[1], 0x5a);
  // 0x3f6 is the ATA, 0x3f7 nobody's.
  p.PioRead(0x3f6, two);
  EXPECT_EQ(two[0], 0x50);
  EXPECT_EQ(two[1], 0xff);
  // A 32-bit debug-exit write carries the whole value.
  const uint8_t value[4] = {0x78, 0x56, 0x34, 0x12};
  EXPECT_EQ(p.PioWrite(0xf4, value)->name(), "debug_exit");
  ASSERT_EQ(sink.outputs.size(), 1u);
  EXPECT_EQ(sink.outputs[0].kind, OutputKind::kDebugExit);
  EXPECT_EQ(sink.outputs[0].arg, 0x12345678u);
  // Debug-exit reads 0 (QEMU 7.2), VRO reads all ones and ignores writes.
  uint8_t four[4] = {1, 1, 1, 1};
  p.PioRead(0xf4, four);
  EXPECT_EQ(four[0] | four[1] | four[2] | four[3], 0);
  EXPECT_EQ(In(p, 0x80), 0xff);
  Out(p, 0x80, 0x12);
  EXPECT_EQ(sink.outputs.size(), 1u);
}

TEST(PcPlatformTest, EveryIrqReachesTheCpuWithItsVector) {
  RecordingOutputSink sink;
  PcPlatform p({.disk_sectors = 8, .rtc_epoch_seconds = 1'700'000'000}, &sink);
  InitPic(p);
  EXPECT_FALSE(p.InterruptPending());
  // IRQ0: PIT mode 2, 1 ms.
  Out(p, 0x43, 0x34);
  Out(p, 0x40, 1193 & 0xff);
  Out(p, 0x40, 1193 >> 8);
  const uint64_t tick = p.NextDeadlineNs().value();
  EXPECT_EQ(tick, Pit8254::NsOfTick(1193));
  p.AdvanceClockTo(tick - 1);
  EXPECT_FALSE(p.InterruptPending());
  p.AdvanceClockTo(tick);
  ASSERT_TRUE(p.InterruptPending());
  EXPECT_EQ(p.AcknowledgeInterrupt(), 0x20);
  EXPECT_FALSE(p.InterruptPending());
  Out(p, 0x21, 0x01);  // mask the timer from now on
  // IRQ4: UART THRE.
  Out(p, 0x3f9, 0x02);
  ASSERT_TRUE(p.InterruptPending());
  EXPECT_EQ(p.AcknowledgeInterrupt(), 0x24);
  Out(p, 0x3f9, 0x00);
  // IRQ14: ATA command completion.
  Out(p, 0x1f7, 0xe7);
  ASSERT_TRUE(p.InterruptPending());
  EXPECT_EQ(p.AcknowledgeInterrupt(), 0x2e);
  EXPECT_EQ(In(p, 0x1f7), 0x50);
  // IRQ8: RTC update-ended, through the slave.
  Out(p, 0x70, 0x0b);
  Out(p, 0x71, 0x12);
  p.AdvanceClockTo(999'999'999);
  EXPECT_FALSE(p.InterruptPending());
  p.AdvanceClockTo(1'000'000'000);
  ASSERT_TRUE(p.InterruptPending());
  EXPECT_EQ(p.AcknowledgeInterrupt(), 0x28);
  Out(p, 0x70, 0x0c);
  EXPECT_EQ(In(p, 0x71), 0x90);
}

TEST(PcPlatformTest, InputsReachTheDevices) {
  RecordingOutputSink sink;
  PcPlatform p({.disk_sectors = 8}, &sink);
  EXPECT_EQ(p.SerialRxFree(), 1u);
  const uint8_t byte = 'k';
  p.SerialReceive({&byte, 1});
  EXPECT_EQ(p.SerialRxFree(), 0u);
  EXPECT_EQ(In(p, 0x3f8), 'k');

  EXPECT_FALSE(p.DiskReadCompleted(0, SectorData(0, 1)).ok());
  Out(p, 0x1f6, 0xe0);
  Out(p, 0x1f2, 1);
  Out(p, 0x1f3, 3);
  Out(p, 0x1f4, 0);
  Out(p, 0x1f5, 0);
  Out(p, 0x1f7, 0x20);
  ASSERT_EQ(sink.outputs.size(), 1u);
  EXPECT_EQ(sink.outputs[0].kind, OutputKind::kDiskReadRequest);
  ASSERT_TRUE(p.DiskReadCompleted(3, SectorData(3, 1)).ok());
  uint8_t word[2];
  p.PioRead(0x1f0, word);
  EXPECT_EQ(word[0], SectorData(3, 1)[0]);
  EXPECT_EQ(word[1], SectorData(3, 1)[1]);
}

TEST(PcPlatformTest, DeadlineIsTheEarliestTimer) {
  RecordingOutputSink sink;
  PcPlatform p({}, &sink);
  // Power-on: only the PIT's 18.2 Hz.
  EXPECT_EQ(p.NextDeadlineNs(), Pit8254::NsOfTick(65536));
  Out(p, 0x70, 0x0b);
  Out(p, 0x71, 0x42);  // RTC periodic at 1024 Hz comes first
  EXPECT_EQ(p.NextDeadlineNs(), 976563u);
}

// Drives a platform with a pseudo-random but reproducible stream of guest
// port accesses and inputs, recording everything the guest could observe.
class Driver {
 public:
  explicit Driver(uint64_t seed) : rng_(seed) {}

  void Setup(PcPlatform& p) {
    InitPic(p);
    Out(p, 0x43, 0x34);
    Out(p, 0x40, 0x00);
    Out(p, 0x40, 0x10);
    Out(p, 0x70, 0x0b);
    Out(p, 0x71, 0x52);
    Out(p, 0x3fa, 0x47);
    Out(p, 0x3f9, 0x0f);
  }

  void Step(PcPlatform& p, const RecordingOutputSink& sink) {
    for (; seen_ < sink.outputs.size(); ++seen_) {
      const RecordedOutput& o = sink.outputs[seen_];
      if (o.kind == OutputKind::kDiskReadRequest) {
        pending_.push_back({o.arg, o.count});
      }
    }
    static constexpr uint16_t kWritePorts[] = {
        0x20,  0x21,  0xa0,  0xa1,  0x40,  0x42,  0x43,  0x61,
        0x70,  0x71,  0x71,  0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc,
        0x3ff, 0x1f1, 0x1f2, 0x1f3, 0x1f4, 0x1f5, 0x1f6, 0x1f7,
        0x3f6, 0x4d0, 0x80,  0x1f7, 0x1f7, 0x1f7, 0x1f3, 0x1f2};
    static constexpr uint16_t kReadPorts[] = {
        0x20,  0x21,  0xa0,  0x40,  0x41,  0x42,  0x61,
        0x71,  0x3f8, 0x3f9, 0x3fa, 0x3fd, 0x3fe, 0x1f1,
        0x1f2, 0x1f3, 0x1f6, 0x1f7, 0x3f6, 0xf4,  0x80};
    static constexpr uint8_t kAtaCommands[] = {0x20, 0x30, 0xc4, 0xc5, 0xc6,
                                               0xec, 0xe7, 0x90, 0x40, 0xa1};
    const uint64_t r = Next();
    switch (r % 11) {
      case 0:
      case 1: {
        const uint16_t port = kWritePorts[Next() % std::size(kWritePorts)];
        uint8_t v = static_cast<uint8_t>(Next());
        if (port == 0x1f7) v = kAtaCommands[v % std::size(kAtaCommands)];
        if (port == 0x1f6) v = (v % 8 == 0) ? 0xf0 : 0xe0;  // mostly dev 0
        if (port == 0x1f2) v = v % 4 + 1;
        if (port == 0x1f3) v %= 64;
        if (port == 0x1f4 || port == 0x1f5) v = v % 16 == 0;
        if (port == 0x3f6) v = (v & 0x02) | (v % 16 == 0 ? 0x04 : 0);
        if (port == 0x70) v = static_cast<uint8_t>(v % 14 | (v & 0x80));
        if (port == 0x20 || port == 0xa0) v = 0x20;  // EOIs only
        Out(p, port, v);
        break;
      }
      case 2:
      case 3:
        seen_values_.push_back(
            In(p, kReadPorts[Next() % std::size(kReadPorts)]));
        break;
      case 4:
        p.AdvanceClockTo(p.clock().now_ns() + Next() % (3 * kMs));
        break;
      case 5:
        if (const std::optional<uint64_t> d = p.NextDeadlineNs()) {
          p.AdvanceClockTo(std::max(*d, p.clock().now_ns()));
        }
        break;
      case 6: {
        const size_t n = std::min<size_t>(p.SerialRxFree(), Next() % 5);
        std::vector<uint8_t> bytes(n);
        for (uint8_t& b : bytes) b = static_cast<uint8_t>(Next());
        p.SerialReceive(bytes);
        break;
      }
      case 7:
        if (!pending_.empty()) {
          const auto [lba, count] = pending_.front();
          pending_.pop_front();
          EXPECT_TRUE(p.DiskReadCompleted(lba, SectorData(lba, count)).ok());
        }
        break;
      case 8:
        if (p.InterruptPending()) {
          seen_values_.push_back(0x100u | p.AcknowledgeInterrupt());
        }
        break;
      default: {
        // A burst of 64 data words (a quarter sector), 16 or 32 bits wide.
        const bool write = Next() % 2;
        const size_t width = Next() % 2 ? 2 : 4;
        for (size_t i = 0; i < 128; i += width) {
          uint8_t word[4] = {static_cast<uint8_t>(Next()), 0x5a, 0xa5, 0x3c};
          if (write) {
            p.PioWrite(0x1f0, std::span<uint8_t>(word, width));
          } else {
            p.PioRead(0x1f0, std::span<uint8_t>(word, width));
            seen_values_.push_back(word[0] | word[1] << 8 | word[2] << 16);
          }
        }
        break;
      }
    }
  }

  const std::vector<uint32_t>& seen_values() const { return seen_values_; }

 private:
  uint64_t Next() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }

  uint64_t rng_;
  size_t seen_ = 0;
  std::deque<std::pair<uint64_t, uint32_t>> pending_;
  std::vector<uint32_t> seen_values_;
};

std::vector<std::vector<uint8_t>> SaveAll(const PcPlatform& p) {
  std::vector<std::vector<uint8_t>> blobs;
  for (const FrontEnd* f : p.front_ends()) blobs.push_back(SaveFrontEnd(*f));
  return blobs;
}

constexpr PcPlatformConfig kConfig{.disk_sectors = 64,
                                   .rtc_epoch_seconds = 1'700'000'000};

TEST(DeterminismTest, SameInputsGiveSameOutputsAndState) {
  RecordingOutputSink sink_a, sink_b;
  PcPlatform a(kConfig, &sink_a), b(kConfig, &sink_b);
  Driver da(42), db(42);
  da.Setup(a);
  db.Setup(b);
  for (int i = 0; i < 20000; ++i) {
    da.Step(a, sink_a);
    db.Step(b, sink_b);
  }
  // The run must have exercised the devices for the comparison to mean
  // something.
  int tx = 0, writes = 0, reads = 0;
  for (const RecordedOutput& o : sink_a.outputs) {
    tx += o.kind == OutputKind::kSerialTx;
    writes += o.kind == OutputKind::kDiskWrite;
    reads += o.kind == OutputKind::kDiskReadRequest;
  }
  EXPECT_GT(tx, 20);
  EXPECT_GT(writes, 20);
  EXPECT_GT(reads, 10);
  int interrupts = 0;
  for (uint32_t v : da.seen_values()) interrupts += (v & 0x100) != 0;
  EXPECT_GT(interrupts, 1000);

  EXPECT_EQ(sink_a.outputs, sink_b.outputs);
  EXPECT_EQ(da.seen_values(), db.seen_values());
  EXPECT_EQ(a.SaveClock(), b.SaveClock());
  EXPECT_EQ(SaveAll(a), SaveAll(b));

  // A different input stream does diverge (so the comparison can fail).
  RecordingOutputSink sink_c;
  PcPlatform c(kConfig, &sink_c);
  Driver dc(43);
  dc.Setup(c);
  for (int i = 0; i < 20000; ++i) dc.Step(c, sink_c);
  EXPECT_NE(SaveAll(a), SaveAll(c));
}

TEST(DeterminismTest, RestoredCheckpointContinuesIdentically) {
  RecordingOutputSink sink_a;
  PcPlatform a(kConfig, &sink_a);
  Driver da(7);
  da.Setup(a);
  for (int i = 0; i < 10000; ++i) da.Step(a, sink_a);

  // Checkpoint: clock plus every front-end, into a fresh platform.
  RecordingOutputSink sink_b;
  PcPlatform b(kConfig, &sink_b);
  b.LoadClock(a.SaveClock());
  const std::vector<std::vector<uint8_t>> blobs = SaveAll(a);
  std::vector<FrontEnd*> targets = b.front_ends();
  for (size_t i = 0; i < targets.size(); ++i) {
    ASSERT_TRUE(LoadFrontEnd(*targets[i], blobs[i]).ok());
  }
  EXPECT_EQ(SaveAll(b), blobs);

  // Both continue with the same inputs; the restored one must not be told
  // apart by anything it outputs or the guest observes.
  Driver db = da;
  sink_b.outputs = sink_a.outputs;  // the driver's view of past outputs
  const size_t outputs_before = sink_a.outputs.size();
  const size_t seen_before = da.seen_values().size();
  for (int i = 0; i < 10000; ++i) {
    da.Step(a, sink_a);
    db.Step(b, sink_b);
  }
  EXPECT_GT(sink_a.outputs.size(), outputs_before + 10);
  EXPECT_EQ(sink_a.outputs, sink_b.outputs);
  EXPECT_GT(da.seen_values().size(), seen_before + 1000);
  EXPECT_EQ(da.seen_values(), db.seen_values());
  EXPECT_EQ(SaveAll(a), SaveAll(b));
}

}  // namespace
}  // namespace xv

namespace xv {
namespace {

TEST(OutputKindNameTest, EveryKindHasItsOwnName) {
  EXPECT_EQ(OutputKindName(OutputKind::kSerialTx), "serial_tx");
  EXPECT_EQ(OutputKindName(OutputKind::kDiskWrite), "disk_write");
  EXPECT_EQ(OutputKindName(OutputKind::kDiskReadRequest), "disk_read_request");
  EXPECT_EQ(OutputKindName(OutputKind::kDebugExit), "debug_exit");
  EXPECT_EQ(OutputKindName(static_cast<OutputKind>(200)), "unknown");
}

}  // namespace
}  // namespace xv
