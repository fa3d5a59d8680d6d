// Tests of the KVM wrapper against the real /dev/kvm, with tiny hand-written
// real-mode guests (no guest SDK below this layer).
#include "kvm/vcpu.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kvm/kvm_system.h"
#include "kvm/kvm_test_support.h"
#include "kvm/vcpu_state.h"
#include "kvm/vm.h"
#include "memshare/guest_memory.h"

namespace xv {
namespace {

constexpr uint64_t kMemSize = 1 << 20;
constexpr uint64_t kCodeAddr = 0x1000;

// A VM with 1 MiB of memory whose vCPU starts in real mode at kCodeAddr.
struct TinyVm {
  KvmSystem kvm;
  GuestMemory mem;
  Vm vm;
  Vcpu vcpu;

  static TinyVm Create(const std::vector<uint8_t>& code) {
    auto kvm = KvmSystem::Open();
    EXPECT_TRUE(kvm.ok()) << kvm.status();
    auto mem = GuestMemory::Create(kMemSize);
    EXPECT_TRUE(mem.ok()) << mem.status();
    EXPECT_TRUE(mem->Write(kCodeAddr, code).ok());
    auto vm = kvm->CreateVm();
    EXPECT_TRUE(vm.ok()) << vm.status();
    EXPECT_TRUE(vm->SetMemorySlot(0, 0, mem->host_span()).ok());
    auto vcpu = vm->CreateVcpu(0);
    EXPECT_TRUE(vcpu.ok()) << vcpu.status();
    auto cpuid = kvm->SupportedCpuid();
    EXPECT_TRUE(cpuid.ok()) << cpuid.status();
    // Fails with EINVAL if the C++ ioctl number is wrong (kvm_uapi.h).
    EXPECT_TRUE(vcpu->SetCpuid(*cpuid).ok());
    auto sregs = vcpu->GetSregs();
    EXPECT_TRUE(sregs.ok());
    sregs->cs.base = 0;
    sregs->cs.selector = 0;
    EXPECT_TRUE(vcpu->SetSregs(*sregs).ok());
    kvm_regs regs{};
    regs.rip = kCodeAddr;
    regs.rflags = 0x2;
    EXPECT_TRUE(vcpu->SetRegs(regs).ok());
    return TinyVm{std::move(*kvm), std::move(*mem), std::move(*vm),
                  std::move(*vcpu)};
  }

  // Runs to the next guest-initiated exit.
  VcpuExit Next() {
    for (;;) {
      auto exit = vcpu.Run();
      EXPECT_TRUE(exit.ok()) << exit.status();
      if (!exit.ok()) return {};
      if (exit->kind != ExitKind::kHostInterrupt) return *exit;
    }
  }
};

// mov al,1; L: out 0x80,al; inc al; cmp al,11; jne L; out 0xf4,al; hlt
const std::vector<uint8_t> kCountingLoop = {0xb0, 0x01, 0xe6, 0x80, 0xfe,
                                            0xc0, 0x3c, 0x0b, 0x75, 0xf8,
                                            0xe6, 0xf4, 0xf4};

TEST(VcpuTest, DecodesPioExitsAndCountsEsn) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm t = TinyVm::Create(kCountingLoop);
  for (int i = 1; i <= 10; ++i) {
    VcpuExit e = t.Next();
    ASSERT_EQ(e.kind, ExitKind::kIo) << e.Describe();
    EXPECT_EQ(e.io.port, 0x80);
    EXPECT_FALSE(e.io.in);
    EXPECT_EQ(e.io.size, 1);
    ASSERT_EQ(e.io.data.size(), 1u);
    EXPECT_EQ(e.io.data[0], i);
    EXPECT_EQ(t.vcpu.esn(), static_cast<uint64_t>(i));
    // RIP through sync regs: just after the 2-byte `out`.
    EXPECT_EQ(t.vcpu.regs().rip, kCodeAddr + 4);
  }
  VcpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kIo);
  EXPECT_EQ(e.io.port, 0xf4);
  EXPECT_EQ(e.io.data[0], 11);
  EXPECT_EQ(t.Next().kind, ExitKind::kHlt);
  EXPECT_EQ(t.vcpu.esn(), 12u);
}

TEST(VcpuTest, SyncRegsWritesReachTheGuest) {
  XV_SKIP_WITHOUT_KVM();
  // out 0x80,al; out 0x80,al; hlt
  TinyVm t = TinyVm::Create({0xe6, 0x80, 0xe6, 0x80, 0xf4});
  VcpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kIo);
  t.vcpu.mutable_regs().rax = 0x5a;
  e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kIo);
  EXPECT_EQ(e.io.data[0], 0x5a);
}

TEST(VcpuTest, InjectedInterruptRunsHandlerRightAfterTheExit) {
  XV_SKIP_WITHOUT_KVM();
  // sti; nop; out 0x80,al; out 0xf4,al; hlt
  TinyVm t = TinyVm::Create({0xfb, 0x90, 0xe6, 0x80, 0xe6, 0xf4, 0xf4});
  // IVT entry for vector 0x20 -> 0000:2000: mov al,0x55; out 0x81,al; iret
  const uint8_t ivt[] = {0x00, 0x20, 0x00, 0x00};
  ASSERT_TRUE(t.mem.Write(uint64_t{0x20} * 4, ivt).ok());
  const uint8_t handler[] = {0xb0, 0x55, 0xe6, 0x81, 0xcf};
  ASSERT_TRUE(t.mem.Write(0x2000, handler).ok());

  VcpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kIo);
  ASSERT_EQ(e.io.port, 0x80);
  ASSERT_TRUE(t.vcpu.CanTakeInterrupt());
  ASSERT_TRUE(t.vcpu.InjectInterrupt(0x20).ok());
  e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kIo) << e.Describe();
  EXPECT_EQ(e.io.port, 0x81);
  EXPECT_EQ(e.io.data[0], 0x55);
  e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kIo);
  EXPECT_EQ(e.io.port, 0xf4);
  EXPECT_EQ(t.vcpu.esn(), 3u);
}

std::atomic<Vcpu*> g_kicked_vcpu{nullptr};
void KickHandler(int) {
  if (Vcpu* v = g_kicked_vcpu.load()) v->RequestImmediateExit();
}

TEST(VcpuTest, HostInterruptsAreTransparentAndNotCounted) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm t = TinyVm::Create({0xeb, 0xfe});  // jmp $ : no exits, ever
  struct sigaction sa {};
  sa.sa_handler = KickHandler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, nullptr), 0);
  g_kicked_vcpu = &t.vcpu;
  pthread_t self = pthread_self();
  std::thread kicker([self] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    pthread_kill(self, SIGUSR1);
  });
  auto exit = t.vcpu.Run();
  kicker.join();
  g_kicked_vcpu = nullptr;
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, ExitKind::kHostInterrupt);
  EXPECT_EQ(t.vcpu.esn(), 0u);
  // With immediate_exit still set, KVM_RUN returns at once.
  exit = t.vcpu.Run();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, ExitKind::kHostInterrupt);
  EXPECT_EQ(t.vcpu.esn(), 0u);
  t.vcpu.ClearImmediateExit();
}

TEST(VcpuStateTest, CaptureRestoreRoundTripAndHashSensitivity) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm a = TinyVm::Create(kCountingLoop);
  for (int i = 0; i < 5; ++i) a.Next();
  auto msrs = DeterministicMsrIndices(a.kvm);
  ASSERT_TRUE(msrs.ok()) << msrs.status();
  EXPECT_FALSE(msrs->empty());
  auto st = CaptureVcpuState(a.vcpu, *msrs);
  ASSERT_TRUE(st.ok()) << st.status();
  auto hash = [](const VcpuState& s) {
    Hasher h;
    HashVcpuState(s, h);
    return h.Digest();
  };
  auto again = CaptureVcpuState(a.vcpu, *msrs);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(hash(*st), hash(*again));

  // A second VM restored from the state continues identically.
  TinyVm b = TinyVm::Create(kCountingLoop);
  ASSERT_TRUE(RestoreVcpuState(b.vcpu, *st).ok());
  auto restored = CaptureVcpuState(b.vcpu, *msrs);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(hash(*st), hash(*restored));
  VcpuExit ea = a.Next();
  VcpuExit eb = b.Next();
  ASSERT_EQ(ea.kind, ExitKind::kIo);
  ASSERT_EQ(eb.kind, ExitKind::kIo);
  EXPECT_EQ(ea.io.data[0], eb.io.data[0]);

  VcpuState flipped = *st;
  flipped.regs.rbx ^= 1;
  EXPECT_NE(hash(*st), hash(flipped));
  flipped = *st;
  flipped.sregs.cr0 ^= 1u << 18;
  EXPECT_NE(hash(*st), hash(flipped));
  flipped = *st;
  flipped.xsave.region[40] ^= 0x100;  // inside XMM state
  EXPECT_NE(hash(*st), hash(flipped));
  // XSTATE_BV says only whether the CPU still tracks a component as in its
  // init state; the content it describes is hashed, the bit is not.
  flipped = *st;
  flipped.xsave.region[kXsaveHeaderOffset / 4] ^= 1;  // x87 in XSTATE_BV
  EXPECT_EQ(hash(*st), hash(flipped));
}

TEST(KvmSystemTest, MissingDeviceGivesActionableError) {
  auto kvm = KvmSystem::Open("/nonexistent/kvm");
  ASSERT_FALSE(kvm.ok());
  EXPECT_EQ(kvm.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(kvm.status().message().find("/nonexistent/kvm"),
            absl::string_view::npos);
  EXPECT_NE(kvm.status().message().find("KVM is not available"),
            absl::string_view::npos);
}

TEST(KvmSystemTest, NonKvmDeviceIsRefused) {
  auto kvm = KvmSystem::Open("/dev/null");
  ASSERT_FALSE(kvm.ok());
  EXPECT_NE(kvm.status().message().find("KVM_GET_API_VERSION"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace xv
