// ExitKind's table (names, which kinds the ESN counts) and
// CpuExit::Describe, the one-line account reports print for every kind.
#include "hypervisor/cpu_exit.h"

#include <array>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr std::array<ExitKind, kNumExitKinds> kAllKinds = {
    ExitKind::kPio,       ExitKind::kMmio,          ExitKind::kHlt,
    ExitKind::kShutdown,  ExitKind::kHostInterrupt, ExitKind::kInternalError,
    ExitKind::kFailEntry, ExitKind::kUnsupported};

TEST(ExitKindTest, EveryKindHasItsOwnName) {
  EXPECT_EQ(ExitKindName(ExitKind::kPio), "pio");
  EXPECT_EQ(ExitKindName(ExitKind::kMmio), "mmio");
  EXPECT_EQ(ExitKindName(ExitKind::kHlt), "hlt");
  EXPECT_EQ(ExitKindName(ExitKind::kShutdown), "shutdown");
  EXPECT_EQ(ExitKindName(ExitKind::kHostInterrupt), "host_interrupt");
  EXPECT_EQ(ExitKindName(ExitKind::kInternalError), "internal_error");
  EXPECT_EQ(ExitKindName(ExitKind::kFailEntry), "fail_entry");
  EXPECT_EQ(ExitKindName(ExitKind::kUnsupported), "unsupported");
  // Logs and reports tell kinds apart by name alone.
  std::set<std::string_view> names;
  for (ExitKind kind : kAllKinds) names.insert(ExitKindName(kind));
  EXPECT_EQ(names.size(), static_cast<size_t>(kNumExitKinds));
}

TEST(ExitKindTest, OnlyTheGuestsOwnExitsCountForTheEsn) {
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kPio));
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kMmio));
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kHlt));
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kShutdown));
  // A kick or a backend failure happens at a different point on every run
  // and backend: counting it would shift every later ESN.
  EXPECT_FALSE(IsGuestInitiated(ExitKind::kHostInterrupt));
  EXPECT_FALSE(IsGuestInitiated(ExitKind::kInternalError));
  EXPECT_FALSE(IsGuestInitiated(ExitKind::kFailEntry));
  EXPECT_FALSE(IsGuestInitiated(ExitKind::kUnsupported));
}

TEST(CpuExitDescribeTest, PioOutNamesPortSizeAndCount) {
  uint8_t data[1] = {'x'};
  CpuExit exit;
  exit.kind = ExitKind::kPio;
  exit.io = {.port = 0x3f8, .size = 1, .in = false, .count = 1, .data = data};
  EXPECT_EQ(exit.Describe(), "pio out port 0x3f8 size 1 count 1");
}

TEST(CpuExitDescribeTest, PioInStringBatch) {
  uint8_t data[12] = {};
  CpuExit exit;
  exit.kind = ExitKind::kPio;
  exit.io = {.port = 0x1f0, .size = 4, .in = true, .count = 3, .data = data};
  EXPECT_EQ(exit.Describe(), "pio in port 0x1f0 size 4 count 3");
}

TEST(CpuExitDescribeTest, MmioNamesDirectionGpaAndSizeOfData) {
  uint8_t data[4] = {};
  CpuExit exit;
  exit.kind = ExitKind::kMmio;
  exit.mmio = {.gpa = 0xfee00300, .write = true, .data = data};
  EXPECT_EQ(exit.Describe(), "mmio write gpa 0xfee00300 size 4");
  exit.mmio = {.gpa = 0xd0000000, .write = false, .data = {data, 2}};
  EXPECT_EQ(exit.Describe(), "mmio read gpa 0xd0000000 size 2");
}

TEST(CpuExitDescribeTest, HltAndHostInterruptAreTheirNames) {
  CpuExit exit;
  exit.kind = ExitKind::kHlt;
  EXPECT_EQ(exit.Describe(), "hlt");
  exit.kind = ExitKind::kHostInterrupt;
  EXPECT_EQ(exit.Describe(), "host_interrupt");
}

TEST(CpuExitDescribeTest, ShutdownSaysTripleFault) {
  CpuExit exit;
  exit.kind = ExitKind::kShutdown;
  EXPECT_EQ(exit.Describe(), "shutdown (triple fault)");
}

TEST(CpuExitDescribeTest, BackendFailuresCarryTheirDetail) {
  CpuExit exit;
  exit.detail = "KVM_EXIT_INTERNAL_ERROR (emulation failure, suberror 1)";
  exit.kind = ExitKind::kInternalError;
  EXPECT_EQ(exit.Describe(),
            "internal_error: KVM_EXIT_INTERNAL_ERROR (emulation failure, "
            "suberror 1)");
  exit.detail = "hardware entry failure reason 0x80000021";
  exit.kind = ExitKind::kFailEntry;
  EXPECT_EQ(exit.Describe(),
            "fail_entry: hardware entry failure reason 0x80000021");
  exit.detail = "KVM exit reason 7";
  exit.kind = ExitKind::kUnsupported;
  EXPECT_EQ(exit.Describe(), "unsupported: KVM exit reason 7");
}

}  // namespace
}  // namespace xv
