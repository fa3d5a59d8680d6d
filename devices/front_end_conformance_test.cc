// STYLE #10: one snapshot test that every front-end must pass.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devices/front_end.h"
#include "devices/pc_platform.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

void Out(PcPlatform& p, uint16_t port, uint8_t v) { p.PioWrite(port, {&v, 1}); }

struct Case {
  std::string device;
  // Guest port writes that change the device's state (for a stateless
  // device: that exercise it).
  std::function<void(PcPlatform&)> modify;
  bool stateful = true;
};

std::vector<Case> Cases() {
  return {
      {"pic",
       [](PcPlatform& p) {
         Out(p, 0x20, 0x11);
         Out(p, 0x21, 0x30);
         Out(p, 0x21, 0x04);
         Out(p, 0x21, 0x03);
         Out(p, 0x21, 0x5a);
         Out(p, 0x4d1, 0x02);
       }},
      {"pit",
       [](PcPlatform& p) {
         Out(p, 0x43, 0x34);
         Out(p, 0x40, 0x10);
         Out(p, 0x40, 0x27);
         Out(p, 0x61, 0x03);
         Out(p, 0x43, 0xc2);  // read-back latch
       }},
      {"rtc",
       [](PcPlatform& p) {
         Out(p, 0x70, 0x0b);
         Out(p, 0x71, 0x46);
         Out(p, 0x70, 0xd0);  // NMI masked, RAM byte 0x50
         Out(p, 0x71, 0x77);
       }},
      {"uart0",
       [](PcPlatform& p) {
         Out(p, 0x3fb, 0x80);
         Out(p, 0x3f8, 0x01);
         Out(p, 0x3fb, 0x03);
         Out(p, 0x3fa, 0x07);
         Out(p, 0x3f9, 0x0f);
         Out(p, 0x3ff, 0x42);
         Out(p, 0x3fc, 0x10);  // loopback: the next byte lands in the FIFO
         Out(p, 0x3f8, 'a');
       }},
      {"ata0",
       [](PcPlatform& p) {
         Out(p, 0x1f6, 0xe0);
         Out(p, 0x1f2, 2);
         Out(p, 0x1f3, 5);
         Out(p, 0x1f7, 0x30);  // WRITE SECTORS, then part of the data
         for (int i = 0; i < 100; ++i) {
           const uint8_t w[2] = {static_cast<uint8_t>(i), 0x5a};
           p.PioWrite(0x1f0, w);
         }
       }},
      {"debug_exit", [](PcPlatform& p) { Out(p, 0xf4, 0x01); }, false},
      {"vro", [](PcPlatform& p) { Out(p, 0x80, 0x00); }, false},
  };
}

class FrontEndConformanceTest : public ::testing::TestWithParam<Case> {
 protected:
  FrontEndConformanceTest()
      : platform_({.disk_sectors = 100, .rtc_epoch_seconds = 1'700'000'000},
                  &sink_) {}

  FrontEnd& Device(const std::string& name) {
    for (FrontEnd* f : platform_.front_ends()) {
      if (f->name() == name) return *f;
    }
    ADD_FAILURE() << "no front-end named " << name;
    return *platform_.front_ends().front();
  }

  RecordingOutputSink sink_;
  PcPlatform platform_;
};

TEST_P(FrontEndConformanceTest, SaveModifyRestore) {
  const Case& c = GetParam();
  FrontEnd& device = Device(c.device);
  const std::vector<uint8_t> before = SaveFrontEnd(device);
  c.modify(platform_);
  const std::vector<uint8_t> after = SaveFrontEnd(device);
  if (c.stateful) {
    EXPECT_NE(before, after) << "modifying the device did not change its state";
  } else {
    EXPECT_EQ(before, after);
  }
  ASSERT_TRUE(LoadFrontEnd(device, before).ok());
  EXPECT_EQ(SaveFrontEnd(device), before);
  ASSERT_TRUE(LoadFrontEnd(device, after).ok());
  EXPECT_EQ(SaveFrontEnd(device), after);
}

TEST_P(FrontEndConformanceTest, RejectsDamagedBlobsAndKeepsItsState) {
  const Case& c = GetParam();
  FrontEnd& device = Device(c.device);
  c.modify(platform_);
  const std::vector<uint8_t> good = SaveFrontEnd(device);

  // Every truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    const std::vector<uint8_t> cut(good.begin(), good.begin() + n);
    EXPECT_FALSE(LoadFrontEnd(device, cut).ok()) << "prefix of " << n;
  }
  // Trailing bytes.
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  const absl::Status trailing = LoadFrontEnd(device, longer);
  EXPECT_FALSE(trailing.ok());
  EXPECT_NE(std::string(trailing.message()).find(c.device), std::string::npos);
  // Another version: the u32 after the length-prefixed name.
  std::vector<uint8_t> other_version = good;
  other_version[4 + c.device.size()] ^= 0x01;
  EXPECT_FALSE(LoadFrontEnd(device, other_version).ok());
  // Another device's blob.
  for (const FrontEnd* other : platform_.front_ends()) {
    if (other->name() == c.device) continue;
    EXPECT_FALSE(LoadFrontEnd(device, SaveFrontEnd(*other)).ok())
        << other->name();
  }
  EXPECT_EQ(SaveFrontEnd(device), good);
}

INSTANTIATE_TEST_SUITE_P(AllFrontEnds, FrontEndConformanceTest,
                         ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.device;
                         });

TEST(FrontEndConformanceCoverageTest, EveryPlatformFrontEndHasACase) {
  RecordingOutputSink sink;
  PcPlatform p({}, &sink);
  std::vector<std::string> covered;
  for (const Case& c : Cases()) covered.push_back(c.device);
  for (const FrontEnd* f : p.front_ends()) {
    EXPECT_NE(std::find(covered.begin(), covered.end(), f->name()),
              covered.end())
        << f->name() << " has no conformance case";
  }
}

}  // namespace
}  // namespace xv
