// The KVM backend against the real /dev/kvm, through the GuestCpu interface,
// with tiny hand-written real-mode guests (no guest SDK at this layer): exit
// decoding, register writes, interrupt injection, kicks, dirty pages, state
// capture and restore (with and without KVM's blob), and KVM's keeping to
// the string-I/O rule. These are about KVM itself; the same behaviours run
// on every backend in tests/ and on the fake in machine/.
#include "kvm/kvm_cpu.h"

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "hypervisor/string_io.h"
#include "kvm/kvm_hypervisor.h"
#include "kvm/kvm_test_support.h"

namespace xv {
namespace {

constexpr uint64_t kMemSize = 1 << 20;
constexpr uint64_t kCodeAddr = 0x1000;

// One CPU over 1 MiB of memory, starting in real mode at kCodeAddr.
struct TinyVm {
  std::unique_ptr<KvmHypervisor> kvm;
  std::unique_ptr<GuestMemory> mem;
  std::unique_ptr<GuestCpu> cpu;

  static TinyVm Create(const std::vector<uint8_t>& code) {
    TinyVm t;
    auto kvm = KvmHypervisor::Open();
    EXPECT_TRUE(kvm.ok()) << kvm.status();
    t.kvm = std::move(*kvm);
    auto mem = GuestMemory::Create(kMemSize);
    EXPECT_TRUE(mem.ok()) << mem.status();
    t.mem = std::make_unique<GuestMemory>(std::move(*mem));
    EXPECT_TRUE(t.mem->Write(kCodeAddr, code).ok());
    auto cpuid = t.kvm->DefaultCpuid();
    EXPECT_TRUE(cpuid.ok()) << cpuid.status();
    auto cpu = t.kvm->CreateCpu(*t.mem, *cpuid);
    EXPECT_TRUE(cpu.ok()) << cpu.status();
    t.cpu = std::move(*cpu);
    // Reset state is real mode at F000:FFF0; start at 0000:kCodeAddr.
    Vcpu& vcpu = dynamic_cast<KvmCpu&>(*t.cpu).vcpu();
    auto sregs = vcpu.GetSregs();
    EXPECT_TRUE(sregs.ok());
    sregs->cs.base = 0;
    sregs->cs.selector = 0;
    EXPECT_TRUE(vcpu.SetSregs(*sregs).ok());
    EXPECT_TRUE(t.cpu
                    ->ModifyRegs([](GeneralRegisters& regs) {
                      regs = GeneralRegisters{};
                      regs.rip = kCodeAddr;
                      regs.rsp = 0x8000;
                    })
                    .ok());
    return t;
  }

  // Runs to the next guest-initiated exit.
  CpuExit Next() {
    for (;;) {
      auto exit = cpu->Run();
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

TEST(KvmCpuTest, DecodesPioExits) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm t = TinyVm::Create(kCountingLoop);
  for (int i = 1; i <= 10; ++i) {
    CpuExit e = t.Next();
    ASSERT_EQ(e.kind, ExitKind::kPio) << e.Describe();
    EXPECT_EQ(e.io.port, 0x80);
    EXPECT_FALSE(e.io.in);
    EXPECT_EQ(e.io.size, 1);
    EXPECT_EQ(e.io.count, 1u);
    ASSERT_EQ(e.io.data.size(), 1u);
    EXPECT_EQ(e.io.data[0], i);
    ASSERT_TRUE(t.cpu->SettleExit().ok());
    // Settled: RIP just after the 2-byte `out`.
    EXPECT_EQ(t.cpu->regs().rip, kCodeAddr + 4);
  }
  CpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio);
  EXPECT_EQ(e.io.port, 0xf4);
  EXPECT_EQ(e.io.data[0], 11);
  EXPECT_EQ(t.Next().kind, ExitKind::kHlt);
}

TEST(KvmCpuTest, RegisterWritesReachTheGuest) {
  XV_SKIP_WITHOUT_KVM();
  // out 0x80,al; out 0x80,al; hlt
  TinyVm t = TinyVm::Create({0xe6, 0x80, 0xe6, 0x80, 0xf4});
  ASSERT_EQ(t.Next().kind, ExitKind::kPio);
  ASSERT_TRUE(
      t.cpu->ModifyRegs([](GeneralRegisters& regs) { regs.rax = 0x5a; }).ok());
  CpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio);
  EXPECT_EQ(e.io.data[0], 0x5a);
}

TEST(KvmCpuTest, AnInReadsWhatTheHandlerSupplied) {
  XV_SKIP_WITHOUT_KVM();
  // in al,0x60; out 0x80,al; hlt
  TinyVm t = TinyVm::Create({0xe4, 0x60, 0xe6, 0x80, 0xf4});
  CpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio);
  ASSERT_TRUE(e.io.in);
  e.io.data[0] = 0x77;
  e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio);
  EXPECT_EQ(e.io.data[0], 0x77);
}

TEST(KvmCpuTest, QueuedInterruptRunsTheHandlerRightAfterTheExit) {
  XV_SKIP_WITHOUT_KVM();
  // sti; nop; out 0x80,al; out 0xf4,al; hlt
  TinyVm t = TinyVm::Create({0xfb, 0x90, 0xe6, 0x80, 0xe6, 0xf4, 0xf4});
  // IVT entry for vector 0x20 -> 0000:2000: mov al,0x55; out 0x81,al; iret
  const uint8_t ivt[] = {0x00, 0x20, 0x00, 0x00};
  ASSERT_TRUE(t.mem->Write(uint64_t{0x20} * 4, ivt).ok());
  const uint8_t handler[] = {0xb0, 0x55, 0xe6, 0x81, 0xcf};
  ASSERT_TRUE(t.mem->Write(0x2000, handler).ok());

  CpuExit e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio);
  ASSERT_EQ(e.io.port, 0x80);
  ASSERT_TRUE(t.cpu->CanTakeInterrupt());
  ASSERT_TRUE(t.cpu->QueueInterrupt(0x20).ok());
  auto state = t.cpu->CaptureState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->arch.queued_interrupt, 0x20);
  e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio) << e.Describe();
  EXPECT_EQ(e.io.port, 0x81);
  EXPECT_EQ(e.io.data[0], 0x55);
  e = t.Next();
  ASSERT_EQ(e.kind, ExitKind::kPio);
  EXPECT_EQ(e.io.port, 0xf4);
}

TEST(KvmCpuTest, KicksAreHostInterruptsAndNeverLost) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm t = TinyVm::Create({0xeb, 0xfe});  // jmp $ : no exits, ever
  auto kicker = t.cpu->BindKicker();
  ASSERT_TRUE(kicker.ok()) << kicker.status();
  std::thread other([k = kicker->get()] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    k->Kick();
  });
  auto exit = t.cpu->Run();
  other.join();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_EQ(exit->kind, ExitKind::kHostInterrupt);
  // A kick while no Run() is in progress: the next one returns at once.
  (*kicker)->Kick();
  exit = t.cpu->Run();
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(exit->kind, ExitKind::kHostInterrupt);
}

TEST(KvmCpuTest, GuestWritesAreReported) {
  XV_SKIP_WITHOUT_KVM();
  // mov byte [0x5000],al; out 0x80,al; hlt
  TinyVm t = TinyVm::Create({0xa2, 0x00, 0x50, 0xe6, 0x80, 0xf4});
  DirtyBitmap pages(t.mem->pages());
  ASSERT_TRUE(t.cpu->TakeGuestWrites(pages).ok());
  pages.Clear();
  ASSERT_EQ(t.Next().kind, ExitKind::kPio);
  ASSERT_TRUE(t.cpu->SettleExit().ok());
  ASSERT_TRUE(t.cpu->TakeGuestWrites(pages).ok());
  EXPECT_TRUE(pages.Test(5));
  pages.Clear();
  ASSERT_TRUE(t.cpu->TakeGuestWrites(pages).ok());
  EXPECT_FALSE(pages.Test(5));  // forgotten once taken
}

// State moved into a second CPU — exactly with KVM's blob, and rebuilt from
// the architectural state alone — continues identically.
TEST(KvmCpuTest, CaptureAndRestoreWithAndWithoutTheBlob) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm a = TinyVm::Create(kCountingLoop);
  for (int i = 0; i < 5; ++i) a.Next();
  auto st = a.cpu->CaptureState();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->backend, "kvm");
  EXPECT_FALSE(st->blob.empty());
  auto again = a.cpu->CaptureState();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(st->arch, again->arch);

  CpuState arch_only{st->arch, "", {}};
  for (const CpuState* from : {&*st, &arch_only}) {
    TinyVm b = TinyVm::Create(kCountingLoop);
    ASSERT_TRUE(b.cpu->RestoreState(*from).ok()) << from->backend;
    auto restored = b.cpu->CaptureState();
    ASSERT_TRUE(restored.ok());
    EXPECT_EQ(restored->arch, st->arch);
    TinyVm a2 = TinyVm::Create(kCountingLoop);
    ASSERT_TRUE(a2.cpu->RestoreState(*st).ok());
    for (int i = 0; i < 3; ++i) {
      CpuExit ea = a2.Next();
      CpuExit eb = b.Next();
      ASSERT_EQ(ea.kind, ExitKind::kPio);
      ASSERT_EQ(eb.kind, ExitKind::kPio);
      EXPECT_EQ(ea.io.data[0], eb.io.data[0]);
    }
  }
}

TEST(KvmCpuTest, AStateKvmDoesNotTakeIsRefusedByName) {
  XV_SKIP_WITHOUT_KVM();
  TinyVm a = TinyVm::Create(kCountingLoop);
  auto st = a.cpu->CaptureState();
  ASSERT_TRUE(st.ok());
  // The blob says one thing, the architectural state another.
  CpuState lying = *st;
  lying.arch.regs.rbx ^= 1;
  absl::Status s = a.cpu->RestoreState(lying);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find("rbx"), absl::string_view::npos) << s;
}

// KVM keeps the project's string-I/O rule (hypervisor/string_io.h): `rep
// outs` element by element, RIP past the instruction after the last one;
// `rep ins` in InsBatchElements() batches, also where the destination
// crosses pages.
TEST(KvmCpuTest, StringIoFollowsTheRule) {
  XV_SKIP_WITHOUT_KVM();
  // mov si,0x3000; mov cx,5; mov dx,0x80; rep outsb;
  // mov di,0x4f9c; mov cx,3000; rep insb; hlt
  const std::vector<uint8_t> code = {0xbe, 0x00, 0x30, 0xb9, 0x05, 0x00, 0xba,
                                     0x80, 0x00, 0xf3, 0x6e, 0xbf, 0x9c, 0x4f,
                                     0xb9, 0xb8, 0x0b, 0xf3, 0x6c, 0xf4};
  const uint64_t outs_at = kCodeAddr + 9;
  const uint64_t after_outs = outs_at + 2;
  TinyVm t = TinyVm::Create(code);
  for (uint64_t left = 5; left > 0; --left) {
    CpuExit e = t.Next();
    ASSERT_EQ(e.kind, ExitKind::kPio) << e.Describe();
    EXPECT_FALSE(e.io.in);
    EXPECT_EQ(e.io.count, 1u);
    ASSERT_TRUE(t.cpu->SettleExit().ok());
    EXPECT_EQ(t.cpu->regs().rcx & 0xffff, left - 1);
    EXPECT_EQ(t.cpu->regs().rip, left > 1 ? outs_at : after_outs)
        << left << " left";
  }
  uint64_t remaining = 3000, rdi = 0x4f9c;
  while (remaining > 0) {
    CpuExit e = t.Next();
    ASSERT_EQ(e.kind, ExitKind::kPio) << e.Describe();
    ASSERT_TRUE(e.io.in);
    const uint64_t batch = InsBatchElements(remaining, rdi, false, 1);
    EXPECT_EQ(e.io.count, batch) << "at RDI 0x" << std::hex << rdi;
    remaining -= e.io.count;
    rdi += e.io.count;
  }
  EXPECT_EQ(t.Next().kind, ExitKind::kHlt);
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
