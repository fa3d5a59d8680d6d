// FakeCpu keeps the GuestCpu contract (guest_cpu.h) that the machine, the
// recorder and the replayer rely on when they run on it: exits stop after
// their operation did its part, `in` data arrives only when the exit is
// settled, string I/O follows string_io.h, guest writes are reported per
// page, interrupts respect IF and the STI shadow, kicks are invisible to
// the guest, and a captured state continues identically elsewhere.
#include "hypervisor/fake_cpu.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hypervisor/string_io.h"
#include "memshare/dirty_bitmap.h"
#include "memshare/guest_memory.h"

namespace xv {
namespace {

using ::testing::ElementsAre;

constexpr uint64_t kIf = 1 << 9;

class FakeCpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::Create(1 << 20);
    ASSERT_TRUE(memory.ok()) << memory.status();
    memory_.emplace(*std::move(memory));
  }

  std::unique_ptr<GuestCpu> Cpu(FakeProgram program) {
    return Cpu(std::move(program), *memory_);
  }
  static std::unique_ptr<GuestCpu> Cpu(FakeProgram program,
                                       GuestMemory& memory) {
    auto cpu = FakeHypervisor(std::move(program)).CreateCpu(memory, {});
    EXPECT_TRUE(cpu.ok()) << cpu.status();
    return cpu.ok() ? *std::move(cpu) : nullptr;
  }

  // The next exit, which must not be an error.
  static CpuExit Run(GuestCpu& cpu) {
    absl::StatusOr<CpuExit> exit = cpu.Run();
    EXPECT_TRUE(exit.ok()) << exit.status();
    if (!exit.ok()) return CpuExit{};
    return *std::move(exit);
  }

  std::vector<uint8_t> ReadMemory(uint64_t gpa, size_t n) {
    std::vector<uint8_t> bytes(n);
    EXPECT_TRUE(memory_->Read(gpa, bytes).ok());
    return bytes;
  }

  std::optional<GuestMemory> memory_;
};

TEST_F(FakeCpuTest, ArithmeticAndJumps) {
  FakeProgram p;
  p.Set("rax", 5);               // 0
  p.Add("rax", 10);              // 1: 15
  p.And("rax", 0xc);             // 2: 12
  p.JumpIfZero("rax", 13);       // 3: not taken
  p.JumpIfNotZero("rcx", 13);    // 4: not taken
  p.JumpIfEqual("rax", 15, 13);  // 5: not taken
  p.JumpIfEqual("rax", 12, 8);   // 6: taken
  p.Fail();                      // 7
  p.JumpIfZero("rcx", 10);       // 8: taken
  p.Fail();                      // 9
  p.JumpIfNotZero("rax", 12);    // 10: taken
  p.Fail();                      // 11
  p.Jump(14);                    // 12
  p.Fail();                      // 13
  p.Add("rbx", ~uint64_t{0});    // 14: wraps to all ones
  p.Hlt();                       // 15
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "hlt");
  EXPECT_EQ(cpu->regs().rax, 12u);
  EXPECT_EQ(cpu->regs().rbx, ~uint64_t{0});
  EXPECT_EQ(cpu->regs().rip, 16u);
}

TEST_F(FakeCpuTest, OutExitsWithTheRegistersLowBytes) {
  FakeProgram p;
  p.Set("rdx", 0x1122334455667788);
  p.Out(0x3f8, "rdx");
  p.Out(0x80, "rdx", 2);
  p.Out(0xcf8, "rdx", 4);
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "pio out port 0x3f8 size 1 count 1");
  EXPECT_THAT(exit.io.data, ElementsAre(0x88));
  exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "pio out port 0x80 size 2 count 1");
  EXPECT_THAT(exit.io.data, ElementsAre(0x88, 0x77));
  exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "pio out port 0xcf8 size 4 count 1");
  EXPECT_THAT(exit.io.data, ElementsAre(0x88, 0x77, 0x66, 0x55));
  ASSERT_TRUE(cpu->SettleExit().ok());
  EXPECT_EQ(cpu->regs().rip, 4u);
}

TEST_F(FakeCpuTest, InTakesTheDataOnlyWhenSettled) {
  FakeProgram p;
  p.Set("rax", 0x1122334455667788);
  p.In(0x60, "rax");
  p.Hlt();
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "pio in port 0x60 size 1 count 1");
  ASSERT_EQ(exit.io.data.size(), 1u);
  exit.io.data[0] = 0xab;
  // Before settling, the instruction is unfinished.
  EXPECT_EQ(cpu->regs().rax, 0x1122334455667788u);
  EXPECT_EQ(cpu->regs().rip, 1u);
  ASSERT_TRUE(cpu->SettleExit().ok());
  EXPECT_EQ(cpu->regs().rax, 0x11223344556677abu);
  EXPECT_EQ(cpu->regs().rip, 2u);
  // Settling again finishes nothing twice.
  ASSERT_TRUE(cpu->SettleExit().ok());
  EXPECT_EQ(cpu->regs().rax, 0x11223344556677abu);
  EXPECT_EQ(cpu->regs().rip, 2u);
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_EQ(cpu->regs().rip, 3u);
}

TEST_F(FakeCpuTest, InIsSettledByTheNextRun) {
  FakeProgram p;
  p.Set("rbx", ~uint64_t{0});
  p.In(0x71, "rbx", 2);
  p.Out(0x72, "rbx", 4);
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "pio in port 0x71 size 2 count 1");
  ASSERT_EQ(exit.io.data.size(), 2u);
  exit.io.data[0] = 0x34;
  exit.io.data[1] = 0x12;
  exit = Run(*cpu);
  EXPECT_THAT(exit.io.data, ElementsAre(0x34, 0x12, 0xff, 0xff));
  EXPECT_EQ(cpu->regs().rbx, 0xffffffffffff1234u);
}

TEST_F(FakeCpuTest, OutsExitsOncePerElement) {
  const std::vector<uint8_t> text = {'a', 'b', 0, 'c', 'd', 'e'};
  ASSERT_TRUE(memory_->Write(0x1ffe, text).ok());
  FakeProgram p;
  p.Set("rsi", 0x1ffe);
  p.Set("rcx", 3);
  p.Outs(0x3f8, 2);  // 2
  p.Hlt();
  auto cpu = Cpu(p);
  for (uint64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    CpuExit exit = Run(*cpu);
    EXPECT_EQ(exit.Describe(), "pio out port 0x3f8 size 2 count 1");
    EXPECT_THAT(exit.io.data, ElementsAre(text[2 * i], text[2 * i + 1]));
    ASSERT_TRUE(cpu->SettleExit().ok());
    EXPECT_EQ(cpu->regs().rcx, 2 - i);
    EXPECT_EQ(cpu->regs().rsi, 0x1ffe + 2 * (i + 1));
    // At the instruction until the last element, then past it.
    EXPECT_EQ(cpu->regs().rip, i < 2 ? 2u : 3u);
  }
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
}

TEST_F(FakeCpuTest, InsBatchesByTheStringIoRule) {
  // Starting 100 bytes before a page end, as string_io_test pins.
  constexpr uint64_t kStart = 0x3000 - 100;
  FakeProgram p;
  p.Set("rdi", kStart);
  p.Set("rcx", 3000);
  p.Ins(0x1f0, 4);  // 2
  p.Hlt();
  auto cpu = Cpu(p);
  std::vector<uint64_t> batches;
  uint64_t rdi = kStart;
  uint64_t rcx = 3000;
  uint8_t fill = 1;
  while (rcx > 0) {
    SCOPED_TRACE(batches.size());
    CpuExit exit = Run(*cpu);
    ASSERT_EQ(exit.kind, ExitKind::kPio);
    EXPECT_TRUE(exit.io.in);
    EXPECT_EQ(exit.io.port, 0x1f0);
    EXPECT_EQ(exit.io.size, 4);
    const uint64_t n = InsBatchElements(rcx, rdi, false, 4);
    ASSERT_EQ(exit.io.count, n);
    ASSERT_EQ(exit.io.data.size(), n * 4);
    batches.push_back(n);
    std::memset(exit.io.data.data(), fill, exit.io.data.size());
    // The data reaches memory when the exit is settled, not before.
    EXPECT_EQ(ReadMemory(rdi, 1)[0], 0);
    ASSERT_TRUE(cpu->SettleExit().ok());
    EXPECT_EQ(ReadMemory(rdi, n * 4), std::vector<uint8_t>(n * 4, fill));
    rdi += n * 4;
    rcx -= n;
    EXPECT_EQ(cpu->regs().rdi, rdi);
    EXPECT_EQ(cpu->regs().rcx, rcx);
    EXPECT_EQ(cpu->regs().rip, rcx > 0 ? 2u : 3u);
    ++fill;
  }
  std::vector<uint64_t> expected = {100};
  expected.insert(expected.end(), 11, 256);
  expected.push_back(84);
  EXPECT_EQ(batches, expected);
  EXPECT_EQ(ReadMemory(rdi, 1)[0], 0);  // nothing past the last element
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  // The CPU's own writes are guest writes: pages 2 to 5.
  DirtyBitmap pages(memory_->pages());
  ASSERT_TRUE(cpu->TakeGuestWrites(pages).ok());
  EXPECT_EQ(pages.Runs(), (std::vector<PageRun>{{2, 4}}));
}

TEST_F(FakeCpuTest, StringIoWithRcxZeroMakesNoExit) {
  FakeProgram p;
  p.Set("rcx", 0);
  p.Outs(0x3f8);
  p.Ins(0x3f8);
  p.Hlt();
  auto cpu = Cpu(p);
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_EQ(cpu->regs().rip, 4u);
}

TEST_F(FakeCpuTest, StoresAreReportedOncePerPage) {
  FakeProgram p;
  p.Set("rax", 0x0102030405060708);
  p.Store(0x5008, "rax");
  p.Store(0x7ffc, "rax");  // across pages 7 and 8
  p.Load("rbx", 0x7ffc);
  p.Hlt();
  p.Store(0xa000, "rax");
  p.Hlt();
  auto cpu = Cpu(p);
  // What the VMM writes is not the guest's.
  ASSERT_TRUE(memory_->Write(0x9000, std::vector<uint8_t>{1}).ok());
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_EQ(ReadMemory(0x5008, 8),
            (std::vector<uint8_t>{8, 7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(cpu->regs().rbx, 0x0102030405060708u);
  DirtyBitmap pages(memory_->pages());
  ASSERT_TRUE(cpu->TakeGuestWrites(pages).ok());
  EXPECT_EQ(pages.Runs(), (std::vector<PageRun>{{5, 1}, {7, 2}}));
  // Reported pages are forgotten.
  DirtyBitmap again(memory_->pages());
  ASSERT_TRUE(cpu->TakeGuestWrites(again).ok());
  EXPECT_TRUE(again.Empty());
  // The bitmap passed in is ORed into, not replaced.
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  ASSERT_TRUE(cpu->TakeGuestWrites(pages).ok());
  EXPECT_EQ(pages.Runs(), (std::vector<PageRun>{{5, 1}, {7, 2}, {10, 1}}));
  ASSERT_TRUE(cpu->TakeGuestWrites(again).ok());
  EXPECT_TRUE(again.Empty());
}

TEST_F(FakeCpuTest, StoreOutsideMemoryIsAnErrorAsALoadIs) {
  FakeProgram p;
  p.Store((1 << 20) - 4, "rax");
  auto store = Cpu(p);
  EXPECT_EQ(store->Run().status().code(), absl::StatusCode::kOutOfRange);
  FakeProgram q;
  q.Load("rax", (1 << 20) - 4);
  auto load = Cpu(q);
  EXPECT_EQ(load->Run().status().code(), absl::StatusCode::kOutOfRange);
}

TEST_F(FakeCpuTest, HltExitsPastItself) {
  FakeProgram p;
  p.Hlt();
  p.Set("rax", 1);
  p.Hlt();
  auto cpu = Cpu(p);
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_EQ(cpu->regs().rip, 1u);
  EXPECT_EQ(cpu->regs().rax, 0u);
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_EQ(cpu->regs().rax, 1u);
  EXPECT_EQ(cpu->regs().rip, 3u);
}

TEST_F(FakeCpuTest, InterruptsNeedIf) {
  FakeProgram p;
  p.Out(0x80, "rax");
  p.Sti();
  p.Out(0x80, "rax");
  p.Cli();
  p.Out(0x80, "rax");
  auto cpu = Cpu(p);
  Run(*cpu);
  EXPECT_FALSE(cpu->CanTakeInterrupt());
  EXPECT_EQ(cpu->QueueInterrupt(0x20),
            absl::FailedPreconditionError(
                "fake: interrupt queued where the CPU cannot take one"));
  // The shadow of STI covers only the operation after it, which exited.
  Run(*cpu);
  EXPECT_TRUE(cpu->CanTakeInterrupt());
  Run(*cpu);
  EXPECT_FALSE(cpu->CanTakeInterrupt());
}

TEST_F(FakeCpuTest, RestoredInterruptShadowBlocksInterrupts) {
  FakeProgram p;
  p.Set("rax", 1);
  p.Out(0x80, "rax");
  auto cpu = Cpu(p);
  CpuState state;
  state.arch.regs.rflags |= kIf;
  state.arch.interrupt_shadow = true;
  ASSERT_TRUE(cpu->RestoreState(state).ok());
  EXPECT_FALSE(cpu->CanTakeInterrupt());
  EXPECT_EQ(cpu->QueueInterrupt(0x20).code(),
            absl::StatusCode::kFailedPrecondition);
  // One operation later the shadow is over.
  Run(*cpu);
  EXPECT_TRUE(cpu->CanTakeInterrupt());
  EXPECT_TRUE(cpu->QueueInterrupt(0x20).ok());
  // One interrupt at a time.
  EXPECT_EQ(cpu->QueueInterrupt(0x21).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(FakeCpuTest, StiShadowSeenWhenStoppedRightAfterSti) {
  // Only a kick can stop the CPU between STI and the next operation; it
  // lands after either one of this loop.
  FakeProgram p;
  p.Sti();    // 0
  p.Jump(0);  // 1
  auto cpu = Cpu(p);
  // IF already on, so that stopping before the first STI is no exception.
  CpuState start;
  start.arch.regs.rflags |= kIf;
  ASSERT_TRUE(cpu->RestoreState(start).ok());
  auto kicker = cpu->BindKicker();
  ASSERT_TRUE(kicker.ok()) << kicker.status();
  bool after_sti = false;
  bool after_jump = false;
  for (int attempt = 0; attempt < 2000 && !(after_sti && after_jump);
       ++attempt) {
    std::thread kick([&] {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      (*kicker)->Kick();
    });
    CpuExit exit = Run(*cpu);
    kick.join();
    ASSERT_EQ(exit.kind, ExitKind::kHostInterrupt);
    const bool shadow = cpu->regs().rip == 1;
    (shadow ? after_sti : after_jump) = true;
    ASSERT_EQ(cpu->CanTakeInterrupt(), !shadow) << "rip " << cpu->regs().rip;
    auto state = cpu->CaptureState();
    ASSERT_TRUE(state.ok()) << state.status();
    ASSERT_EQ(state->arch.interrupt_shadow, shadow);
  }
  EXPECT_TRUE(after_sti);
  EXPECT_TRUE(after_jump);
}

TEST_F(FakeCpuTest, QueuedInterruptRunsItsHandlerBeforeTheNextOperation) {
  FakeProgram p;
  p.Sti();             // 0
  p.Out(0x80, "rax");  // 1: the interrupt is queued at this exit
  p.Out(0x81, "rax");  // 2
  p.Hlt();             // 3
  p.Set("rbx", 0x55);  // 4: the handler
  p.Out(0x90, "rbx");  // 5
  p.Iret();            // 6
  p.OnInterrupt(0x20, 4);
  auto cpu = Cpu(p);
  EXPECT_EQ(Run(*cpu).io.port, 0x80);
  ASSERT_TRUE(cpu->CanTakeInterrupt());
  ASSERT_TRUE(cpu->QueueInterrupt(0x20).ok());
  auto queued = cpu->CaptureState();
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(queued->arch.queued_interrupt, std::optional<uint8_t>(0x20));
  // The handler runs before operation 2, with interrupts off.
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.io.port, 0x90);
  EXPECT_EQ(cpu->regs().rbx, 0x55u);
  EXPECT_FALSE(cpu->CanTakeInterrupt());
  // Iret returns to operation 2 with IF back on.
  exit = Run(*cpu);
  EXPECT_EQ(exit.io.port, 0x81);
  EXPECT_TRUE(cpu->CanTakeInterrupt());
  EXPECT_NE(cpu->regs().rflags & kIf, 0u);
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
}

TEST_F(FakeCpuTest, KickFromAnotherThreadStopsASpinningGuest) {
  FakeProgram p;
  p.Add("rax", 1);
  p.Jump(0);
  auto cpu = Cpu(p);
  auto kicker = cpu->BindKicker();
  ASSERT_TRUE(kicker.ok()) << kicker.status();
  std::thread kick([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (*kicker)->Kick();
  });
  CpuExit exit = Run(*cpu);
  kick.join();
  EXPECT_EQ(exit.kind, ExitKind::kHostInterrupt);
  EXPECT_GT(cpu->regs().rax, 0u);
}

TEST_F(FakeCpuTest, KickBeforeRunStopsTheNextRunAtOnce) {
  FakeProgram p;
  p.Set("rax", 1);
  p.Hlt();
  auto cpu = Cpu(p);
  auto kicker = cpu->BindKicker();
  ASSERT_TRUE(kicker.ok()) << kicker.status();
  (*kicker)->Kick();
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHostInterrupt);
  EXPECT_EQ(cpu->regs().rip, 0u);
  EXPECT_EQ(cpu->regs().rax, 0u);
  // The kick is spent; the guest runs on as if nothing happened.
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_EQ(cpu->regs().rax, 1u);
}

// A guest that reads a port, stores, copies with string I/O and prints.
FakeProgram BusyProgram() {
  FakeProgram p;
  p.Sti();                       // 0
  p.In(0x60, "rax", 4);          // 1
  p.Add("rbx", 3);               // 2
  p.Store(0x8000, "rax");        // 3
  p.Set("rdi", 0x9000);          // 4
  p.Set("rcx", 5);               // 5
  p.Ins(0x61, 2);                // 6
  p.Set("rsi", 0x9000);          // 7
  p.Set("rcx", 3);               // 8
  p.Outs(0x62, 2);               // 9
  p.Out(0x63, "rbx", 4);         // 10
  p.JumpIfEqual("rbx", 12, 13);  // 11
  p.Jump(1);                     // 12
  p.Hlt();                       // 13
  p.Set("r8", 0x77);             // 14: the handler
  p.Iret();                      // 15
  p.OnInterrupt(0x30, 14);
  return p;
}

// Runs to the next exit, answering `in` with `seed`-derived bytes.
std::string Step(GuestCpu& cpu, uint8_t seed) {
  absl::StatusOr<CpuExit> exit = cpu.Run();
  if (!exit.ok()) return exit.status().ToString();
  std::string seen = exit->Describe();
  for (size_t i = 0; i < exit->io.data.size(); ++i) {
    if (exit->io.in) exit->io.data[i] = static_cast<uint8_t>(seed + i);
    seen += " " + std::to_string(exit->io.data[i]);
  }
  return seen;
}

TEST_F(FakeCpuTest, CapturedStateContinuesIdenticallyInAnotherCpu) {
  const FakeProgram program = BusyProgram();
  auto first = Cpu(program);
  // Stop with an `in` unsettled and an interrupt queued: the capture must
  // settle the one and keep the other.
  for (uint8_t i = 0; i < 6; ++i) Step(*first, i);
  CpuExit at;
  {
    absl::StatusOr<CpuExit> exit = first->Run();
    ASSERT_TRUE(exit.ok()) << exit.status();
    at = *exit;
  }
  ASSERT_EQ(at.Describe(), "pio in port 0x60 size 4 count 1");
  std::memset(at.io.data.data(), 0x42, at.io.data.size());
  ASSERT_TRUE(first->CanTakeInterrupt());
  ASSERT_TRUE(first->QueueInterrupt(0x30).ok());
  auto state = first->CaptureState();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->arch.regs.rax & 0xffffffff, 0x42424242u);
  EXPECT_EQ(state->arch.queued_interrupt, std::optional<uint8_t>(0x30));

  auto copy = GuestMemory::Create(memory_->size());
  ASSERT_TRUE(copy.ok()) << copy.status();
  ASSERT_TRUE(copy->Write(0, memory_->host_span()).ok());
  auto second = Cpu(program, *copy);
  ASSERT_TRUE(second->RestoreState(*state).ok());
  auto restored = second->CaptureState();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(restored->arch, state->arch);

  for (uint8_t i = 0; i < 40; ++i) {
    SCOPED_TRACE(i);
    const std::string a = Step(*first, 100 + i);
    ASSERT_EQ(Step(*second, 100 + i), a);
    ASSERT_EQ(second->regs(), first->regs());
    if (a == "hlt") break;
  }
  EXPECT_EQ(first->regs().r8, 0x77u);  // the interrupt was delivered
  auto a = first->CaptureState();
  auto b = second->CaptureState();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->arch, b->arch);
  EXPECT_EQ(
      ReadMemory(0, memory_->size()),
      std::vector<uint8_t>(copy->host_span().begin(), copy->host_span().end()));
}

TEST_F(FakeCpuTest, FailIsAnInternalErrorNamingTheOperation) {
  FakeProgram p;
  p.Set("rax", 1);
  p.Fail();
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.kind, ExitKind::kInternalError);
  EXPECT_EQ(exit.detail, "fake: operation 1 fails on purpose");
  EXPECT_FALSE(IsGuestInitiated(exit.kind));
}

TEST_F(FakeCpuTest, ShutdownIsATripleFault) {
  FakeProgram p;
  p.Set("rax", 1);
  p.Shutdown();
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.kind, ExitKind::kShutdown);
  EXPECT_EQ(cpu->regs().rax, 1u);
}

TEST_F(FakeCpuTest, RipPastTheProgramIsAnInternalErrorNamingRip) {
  FakeProgram p;
  p.Set("rax", 1);
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.kind, ExitKind::kInternalError);
  EXPECT_EQ(exit.detail, "fake: RIP 1 is outside the program");
}

TEST_F(FakeCpuTest, MmioWriteAndRead) {
  FakeProgram p;
  p.Set("rax", 0x1122334455667788);
  p.MmioWrite(0xfee00300, "rax");
  p.MmioRead(0xfee00020, "rax", 2);
  p.Hlt();
  auto cpu = Cpu(p);
  CpuExit exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "mmio write gpa 0xfee00300 size 4");
  EXPECT_THAT(exit.mmio.data, ElementsAre(0x88, 0x77, 0x66, 0x55));
  exit = Run(*cpu);
  EXPECT_EQ(exit.Describe(), "mmio read gpa 0xfee00020 size 2");
  exit.mmio.data[0] = 0xcd;
  exit.mmio.data[1] = 0xab;
  EXPECT_EQ(cpu->regs().rax, 0x1122334455667788u);
  ASSERT_TRUE(cpu->SettleExit().ok());
  EXPECT_EQ(cpu->regs().rax, 0x112233445566abcdu);
}

TEST_F(FakeCpuTest, HostValueDiffersAtEveryRead) {
  FakeProgram p;
  p.HostValue("rax");
  p.HostValue("rbx");
  p.Hlt();
  auto cpu = Cpu(p);
  EXPECT_EQ(Run(*cpu).kind, ExitKind::kHlt);
  EXPECT_NE(cpu->regs().rax, cpu->regs().rbx);
}

TEST_F(FakeCpuTest, UnknownRegisterIsAnError) {
  FakeProgram p;
  p.Set("eax", 1);
  auto cpu = Cpu(p);
  auto exit = cpu->Run();
  EXPECT_EQ(exit.status(), absl::InvalidArgumentError("fake: no register eax"));
}

}  // namespace
}  // namespace xv
