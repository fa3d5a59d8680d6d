#include "kvm/vcpu_exit.h"

#include <vector>

#include "gtest/gtest.h"
#include "kvm/kvm_uapi.h"

namespace xv {
namespace {

// A kvm_run page as the kernel would lay it out (data follows the struct).
struct FakeRun {
  std::vector<uint64_t> page = std::vector<uint64_t>(4096 / 8);
  kvm_run* run() { return reinterpret_cast<kvm_run*>(page.data()); }
};

TEST(VcpuExitTest, DecodesRepInsBatch) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_IO;
  f.run()->io.direction = KVM_EXIT_IO_IN;
  f.run()->io.size = 2;
  f.run()->io.port = 0x1f0;
  f.run()->io.count = 256;
  f.run()->io.data_offset = 1024;
  VcpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kIo);
  EXPECT_TRUE(e.io.in);
  EXPECT_EQ(e.io.port, 0x1f0);
  EXPECT_EQ(e.io.data.size(), 512u);
  EXPECT_EQ(e.io.data.data(), reinterpret_cast<uint8_t*>(f.run()) + 1024);
  EXPECT_TRUE(IsGuestInitiated(e.kind));
}

TEST(VcpuExitTest, InternalErrorCarriesDetailsAndIsNotCounted) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_INTERNAL_ERROR;
  f.run()->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  f.run()->internal.ndata = 2;
  f.run()->internal.data[0] = 1;
  f.run()->internal.data[1] = 0xcc;
  VcpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kInternalError);
  EXPECT_EQ(e.details, (std::vector<uint64_t>{1, 0xcc}));
  EXPECT_FALSE(IsGuestInitiated(e.kind));
  EXPECT_NE(e.Describe().find("emulation failure"), std::string::npos);
}

TEST(VcpuExitTest, KindsHaveDistinctNamesAndDesignCounting) {
  EXPECT_EQ(ExitKindName(ExitKind::kIo), "pio");
  EXPECT_EQ(ExitKindName(ExitKind::kHlt), "hlt");
  // DESIGN §2: PIO, MMIO, HLT, interrupt-window-open and shutdown count.
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kMmio));
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kHlt));
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kIrqWindowOpen));
  EXPECT_TRUE(IsGuestInitiated(ExitKind::kShutdown));
  EXPECT_FALSE(IsGuestInitiated(ExitKind::kHostInterrupt));
  for (int i = 0; i < kNumExitKinds; ++i) {
    for (int j = i + 1; j < kNumExitKinds; ++j) {
      EXPECT_NE(ExitKindName(static_cast<ExitKind>(i)),
                ExitKindName(static_cast<ExitKind>(j)));
    }
  }
}

TEST(VcpuExitTest, ShutdownIsDescribedAsTripleFault) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_SHUTDOWN;
  VcpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kShutdown);
  EXPECT_NE(e.Describe().find("triple fault"), std::string::npos);
}

}  // namespace
}  // namespace xv
