// DescribeFrontEnd / CompareFrontEnds, and the guarantee that naming the
// fields did not change a single byte of any front-end's state encoding.
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "devices/front_end.h"
#include "devices/pc_platform.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

void Out(PcPlatform& p, uint16_t port, uint8_t v) { p.PioWrite(port, {&v, 1}); }
uint8_t In(PcPlatform& p, uint16_t port) {
  uint8_t v = 0;
  p.PioRead(port, {&v, 1});
  return v;
}

// Drives every front-end into a busy, non-default state through guest port
// accesses, inputs and virtual time only (deterministic).
void BusyMachine(PcPlatform& p) {
  // PIC pair: initialised, masks, ELCR, a pending and an in-service IRQ.
  Out(p, 0x20, 0x11);
  Out(p, 0x21, 0x20);
  Out(p, 0x21, 0x04);
  Out(p, 0x21, 0x01);
  Out(p, 0xa0, 0x11);
  Out(p, 0xa1, 0x28);
  Out(p, 0xa1, 0x02);
  Out(p, 0xa1, 0x01);
  Out(p, 0x21, 0xa8);
  Out(p, 0xa1, 0x3e);
  Out(p, 0x4d1, 0x02);
  Out(p, 0x20, 0x0b);  // OCW3: read ISR
  // PIT: channel 0 rate generator, channel 2 one-shot with gate, latches.
  Out(p, 0x43, 0x34);
  Out(p, 0x40, 0x9b);
  Out(p, 0x40, 0x2e);
  Out(p, 0x61, 0x03);
  Out(p, 0x43, 0xb0);
  Out(p, 0x42, 0x10);
  Out(p, 0x42, 0x27);
  Out(p, 0x43, 0x56);  // channel 1, LSB only, mode 3
  Out(p, 0x41, 0x33);
  // RTC: binary 24h mode, periodic + update interrupts, CMOS RAM bytes.
  Out(p, 0x70, 0x0a);
  Out(p, 0x71, 0x26);
  Out(p, 0x70, 0x0b);
  Out(p, 0x71, 0x56);
  Out(p, 0x70, 0x50);
  Out(p, 0x71, 0x77);
  Out(p, 0x70, 0xb1);  // NMI masked, index 0x31
  // UART: divisor 3, 8N1, FIFO, interrupts, scratch, loopback byte.
  Out(p, 0x3fb, 0x80);
  Out(p, 0x3f8, 0x03);
  Out(p, 0x3f9, 0x00);
  Out(p, 0x3fb, 0x03);
  Out(p, 0x3fa, 0xc7);
  Out(p, 0x3f9, 0x0f);
  Out(p, 0x3ff, 0x42);
  const uint8_t rx[] = {'h', 'i', '\n'};
  p.SerialReceive(rx);
  Out(p, 0x3fc, 0x1b);
  Out(p, 0x3f8, 'a');
  // ATA: WRITE SECTORS with part of its data in the buffer.
  Out(p, 0x1f6, 0xe0);
  Out(p, 0x1f2, 2);
  Out(p, 0x1f3, 5);
  Out(p, 0x1f7, 0x30);
  for (int i = 0; i < 100; ++i) {
    const uint8_t w[2] = {static_cast<uint8_t>(i), 0x5a};
    p.PioWrite(0x1f0, w);
  }
  p.AdvanceClockTo(1'234'567'891);
  (void)In(p, 0x40);
  Out(p, 0x43, 0xe2);  // read-back: latch status of channel 0
  Out(p, 0xf4, 0x01);
  Out(p, 0x80, 0x00);
}

std::string Hex(const std::vector<uint8_t>& b) {
  std::string s;
  for (uint8_t v : b) s += absl::StrFormat("%02x", v);
  return s;
}

// FNV-1a, 64 bits: a compact fingerprint of a blob for the golden table.
uint64_t Fingerprint(const std::vector<uint8_t>& b) {
  uint64_t h = 0xcbf29ce484222325u;
  for (uint8_t v : b) {
    h ^= v;
    h *= 0x100000001b3u;
  }
  return h;
}

struct Golden {
  size_t size;
  uint64_t fingerprint;
};

// SaveFrontEnd() of every front-end after BusyMachine(), recorded with the
// encoder as it was before fields had names (unnamed StateWriter calls).
// If this changes, checkpoints and logged state hashes change: bump the
// device's state_version() instead of editing these numbers.
const std::map<std::string, Golden>& GoldenBlobs() {
  static const auto* golden = new std::map<std::string, Golden>{
      {"pic", {45, 0x32a3df5e9ee0a154}},
      {"pit", {189, 0x23433e85c243f4a4}},
      {"rtc", {166, 0x13cc6bd3a57a2568}},
      {"uart0", {50, 0x7aa59f2cec096cb5}},
      {"ata0", {578, 0x57fb723064eeebba}},
      {"debug_exit", {18, 0x143a6d8e699b62c2}},
      {"vro", {11, 0xfa95ed1abcd2354a}},
  };
  return *golden;
}

class FrontEndDescriptionTest : public ::testing::Test {
 protected:
  FrontEndDescriptionTest()
      : platform_({.disk_sectors = 100, .rtc_epoch_seconds = 1'700'000'000},
                  &sink_) {}

  RecordingOutputSink sink_;
  PcPlatform platform_;

  FrontEnd& Device(std::string_view name) {
    for (FrontEnd* f : platform_.front_ends()) {
      if (f->name() == name) return *f;
    }
    ADD_FAILURE() << "no front-end named " << name;
    return *platform_.front_ends().front();
  }
};

TEST_F(FrontEndDescriptionTest, EncodingIsUnchanged) {
  BusyMachine(platform_);
  const auto& golden = GoldenBlobs();
  EXPECT_EQ(golden.size(), platform_.front_ends().size());
  for (const FrontEnd* f : platform_.front_ends()) {
    const std::vector<uint8_t> blob = SaveFrontEnd(*f);
    const auto it = golden.find(std::string(f->name()));
    ASSERT_NE(it, golden.end()) << f->name() << " has no golden blob";
    EXPECT_EQ(blob.size(), it->second.size) << f->name();
    EXPECT_EQ(Fingerprint(blob), it->second.fingerprint)
        << f->name() << " encodes differently: " << Hex(blob);
  }
}

TEST_F(FrontEndDescriptionTest, DescribingDoesNotChangeTheBytes) {
  BusyMachine(platform_);
  for (const FrontEnd* f : platform_.front_ends()) {
    StateWriter plain;
    f->SaveState(plain);
    StateWriter describing = StateWriter::Describing();
    f->SaveState(describing);
    EXPECT_EQ(plain.bytes(), describing.bytes()) << f->name();
  }
}

TEST_F(FrontEndDescriptionTest, EveryFieldHasAUniqueName) {
  BusyMachine(platform_);
  for (const FrontEnd* f : platform_.front_ends()) {
    const std::vector<DeviceField> fields = DescribeFrontEnd(*f);
    std::set<std::string> names;
    for (const DeviceField& field : fields) {
      EXPECT_FALSE(field.name.empty()) << f->name();
      EXPECT_EQ(field.name.find(' '), std::string::npos) << field.name;
      EXPECT_FALSE(field.value.empty()) << f->name() << "." << field.name;
      EXPECT_TRUE(names.insert(field.name).second)
          << f->name() << " names two fields " << field.name;
    }
  }
}

// No write can go undescribed (StateWriter has no unnamed writes and refuses
// an empty name); this checks that stateful devices describe something and
// stateless ones nothing.
TEST_F(FrontEndDescriptionTest, DescribesTheWholeState) {
  BusyMachine(platform_);
  for (const FrontEnd* f : platform_.front_ends()) {
    const std::vector<DeviceField> fields = DescribeFrontEnd(*f);
    StateWriter w;
    f->SaveState(w);
    if (w.bytes().empty()) {
      EXPECT_TRUE(fields.empty()) << f->name();
    } else {
      EXPECT_FALSE(fields.empty()) << f->name();
    }
  }
}

TEST_F(FrontEndDescriptionTest, ShowsRegistersByDatasheetName) {
  BusyMachine(platform_);
  std::map<std::string, std::string> uart;
  for (const DeviceField& f : DescribeFrontEnd(Device("uart0"))) {
    uart[f.name] = f.value;
  }
  EXPECT_EQ(uart["lcr"], "0x03");
  EXPECT_EQ(uart["ier"], "0x0f");
  EXPECT_EQ(uart["scr"], "0x42");
  EXPECT_EQ(uart["divisor"], "0x03");
  std::map<std::string, std::string> pit;
  for (const DeviceField& f : DescribeFrontEnd(Device("pit"))) {
    pit[f.name] = f.value;
  }
  EXPECT_EQ(pit["channel[0].count"], "0x2e9b");
  EXPECT_EQ(pit["channel[2].count_register"], "0x2710");
  std::map<std::string, std::string> rtc;
  for (const DeviceField& f : DescribeFrontEnd(Device("rtc"))) {
    rtc[f.name] = f.value;
  }
  EXPECT_EQ(rtc["cmos[0x50]"], "0x77");
  EXPECT_EQ(rtc["index"], "0x31");
  EXPECT_EQ(rtc["nmi_disabled"], "true");
  std::set<std::string> pic;
  for (const DeviceField& f : DescribeFrontEnd(Device("pic"))) {
    pic.insert(f.name);
  }
  EXPECT_TRUE(pic.contains("master.imr"));
  EXPECT_TRUE(pic.contains("slave.icw2.vector_base"));
}

// Two platforms in the same state, then one register poked on one of them:
// CompareFrontEnds names exactly that register.
struct Poke {
  std::string device;
  uint16_t port;
  uint8_t value;
  std::string field;
  std::string value_a;
  std::string value_b;
};

TEST_F(FrontEndDescriptionTest, CompareNamesExactlyThePokedField) {
  const std::vector<Poke> pokes = {
      {"uart0", 0x3ff, 0x99, "scr", "0x42", "0x99"},
      {"pic", 0x21, 0xff, "master.imr", "0xa8", "0xff"},
      {"pic", 0x4d1, 0x00, "slave.elcr", "0x02", "0x00"},
      {"rtc", 0x70, 0xb2, "index", "0x31", "0x32"},
      {"rtc", 0x71, 0x5a, "cmos[0x31]", "0x00", "0x5a"},
      {"ata0", 0x3f6, 0x02, "device_control", "0x00", "0x02"},
  };
  for (const Poke& poke : pokes) {
    RecordingOutputSink sink_b;
    PcPlatform b({.disk_sectors = 100, .rtc_epoch_seconds = 1'700'000'000},
                 &sink_b);
    RecordingOutputSink sink_a;
    PcPlatform a({.disk_sectors = 100, .rtc_epoch_seconds = 1'700'000'000},
                 &sink_a);
    BusyMachine(a);
    BusyMachine(b);
    const auto find = [&](PcPlatform& p) -> const FrontEnd& {
      for (const FrontEnd* f : p.front_ends()) {
        if (f->name() == poke.device) return *f;
      }
      ADD_FAILURE() << poke.device;
      return *p.front_ends().front();
    };
    EXPECT_TRUE(CompareFrontEnds(find(a), find(b)).empty()) << poke.device;
    Out(b, poke.port, poke.value);
    const std::vector<DeviceFieldDifference> diff =
        CompareFrontEnds(find(a), find(b));
    const std::vector<DeviceFieldDifference> expected = {
        {poke.field, poke.value_a, poke.value_b}};
    EXPECT_EQ(diff, expected) << poke.device << " port " << poke.port;
  }
}

TEST_F(FrontEndDescriptionTest, CompareReportsFieldsOnlyOneSideHas) {
  // A read request outstanding in one machine only: its pending_read[0]
  // fields exist on one side.
  RecordingOutputSink sink_b;
  PcPlatform b({.disk_sectors = 100}, &sink_b);
  Out(b, 0x1f6, 0xe0);
  Out(b, 0x1f2, 1);
  Out(b, 0x1f3, 7);
  Out(b, 0x1f7, 0x20);  // READ SECTORS: waits for the back-end
  const std::vector<DeviceFieldDifference> diff =
      CompareFrontEnds(Device("ata0"), *b.front_ends()[4]);
  ASSERT_EQ(b.front_ends()[4]->name(), "ata0");
  bool saw_count = false;
  bool saw_only_b = false;
  for (const DeviceFieldDifference& d : diff) {
    if (d.name == "pending_reads") {
      saw_count = true;
      EXPECT_EQ(d.value_a, "0x00");
      EXPECT_EQ(d.value_b, "0x01");
    }
    if (d.name == "pending_read[0].lba") {
      saw_only_b = true;
      EXPECT_EQ(d.value_a, "");
      EXPECT_EQ(d.value_b, "0x07");
    }
  }
  EXPECT_TRUE(saw_count);
  EXPECT_TRUE(saw_only_b);
}

}  // namespace

// Readable failures.
void PrintTo(const DeviceFieldDifference& d, std::ostream* os) {
  *os << d.name << ": " << d.value_a << " vs " << d.value_b;
}

}  // namespace xv
