// DecodeExit: kvm_run decoded into the backend-neutral CpuExit, on made-up
// kvm_run pages (no KVM needed).
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
  CpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kPio);
  EXPECT_TRUE(e.io.in);
  EXPECT_EQ(e.io.port, 0x1f0);
  EXPECT_EQ(e.io.count, 256u);
  EXPECT_EQ(e.io.data.size(), 512u);
  EXPECT_EQ(e.io.data.data(), reinterpret_cast<uint8_t*>(f.run()) + 1024);
  EXPECT_TRUE(IsGuestInitiated(e.kind));
}

TEST(VcpuExitTest, DecodesMmio) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_MMIO;
  f.run()->mmio.phys_addr = 0xfee00300;
  f.run()->mmio.len = 4;
  f.run()->mmio.is_write = 1;
  CpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kMmio);
  EXPECT_EQ(e.mmio.gpa, 0xfee00300u);
  EXPECT_TRUE(e.mmio.write);
  EXPECT_EQ(e.mmio.data.size(), 4u);
}

TEST(VcpuExitTest, InternalErrorCarriesDetailsAndIsNotCounted) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_INTERNAL_ERROR;
  f.run()->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  f.run()->internal.ndata = 2;
  f.run()->internal.data[0] = 1;
  f.run()->internal.data[1] = 0xcc;
  CpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kInternalError);
  EXPECT_FALSE(IsGuestInitiated(e.kind));
  EXPECT_EQ(e.detail,
            "KVM_EXIT_INTERNAL_ERROR (emulation failure, suberror 1) data "
            "[0x1 0xcc]");
  EXPECT_NE(e.Describe().find("emulation failure"), std::string::npos);
}

TEST(VcpuExitTest, ExitsThisProjectDoesNotUseAreUnsupportedAndNamed) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_IRQ_WINDOW_OPEN;
  CpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kUnsupported);
  EXPECT_NE(e.detail.find("KVM_EXIT_IRQ_WINDOW_OPEN"), std::string::npos);
  f.run()->exit_reason = 9999;
  e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kUnsupported);
  EXPECT_NE(e.detail.find("9999"), std::string::npos);
}

TEST(VcpuExitTest, ShutdownAndSignalsAreTheirKinds) {
  FakeRun f;
  f.run()->exit_reason = KVM_EXIT_SHUTDOWN;
  CpuExit e = DecodeExit(f.run());
  EXPECT_EQ(e.kind, ExitKind::kShutdown);
  EXPECT_NE(e.Describe().find("triple fault"), std::string::npos);
  f.run()->exit_reason = KVM_EXIT_INTR;
  EXPECT_EQ(DecodeExit(f.run()).kind, ExitKind::kHostInterrupt);
}

}  // namespace
}  // namespace xv
