// Machine and run loop on the scripted fake backend (no hypervisor): the
// exit handler fed made-up exits (STYLE #4), and whole runs of fake guests
// that drive the real PC devices with host-independent inputs. The same
// behaviours on real backends with SDK guests: tests/machine_guest_test.
#include "machine/machine.h"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/fake_guests.h"
#include "machine/testing/stopping_run.h"

namespace xv {
namespace {

using ::xv::testing::RunThroughStops;
using ::xv::testing::StoppingInputs;
using ::xv::testing::StoppingObserver;

using ::xv::testing::FakeEcho;
using ::xv::testing::FakeHello;
using ::xv::testing::FakeKernelImage;
using ::xv::testing::FakeSpin;
using ::xv::testing::FakeStringOut;
using ::xv::testing::FakeTicker;

std::unique_ptr<Machine> NewMachine(const Hypervisor& hv,
                                    RecordingOutputSink* sink,
                                    uint64_t mem = 8 << 20) {
  MachineConfig config;
  config.memory_bytes = mem;
  config.platform.rtc_epoch_seconds = 1'800'000'000;
  auto m = Machine::Create(hv, config, sink);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  auto k = (*m)->BootMultiboot(FakeKernelImage(), "fake", {});
  EXPECT_TRUE(k.ok()) << k.status();
  return std::move(*m);
}

// A PIO exit for `out`/`in` at `port` whose data lives in `buf`.
CpuExit Io(uint16_t port, bool in, std::span<uint8_t> buf, uint8_t size = 1) {
  CpuExit e;
  e.kind = ExitKind::kPio;
  e.io = {port, size, in, static_cast<uint32_t>(buf.size() / size), buf};
  return e;
}

CpuExit Exit(ExitKind kind, std::string detail = "") {
  CpuExit e;
  e.kind = kind;
  e.detail = std::move(detail);
  return e;
}

class MachineTest : public ::testing::Test {
 protected:
  FakeHypervisor idle_{FakeSpin()};
};

TEST_F(MachineTest, PortWritesReachFrontEndsAndOutputs) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  uint8_t a[] = {'A'};
  ExitOutcome o = m->HandleExit(Io(0x3f8, false, a));
  EXPECT_EQ(o.action, ExitOutcome::Action::kContinue);
  // A batch of three elements in one exit.
  uint8_t bcd[] = {'B', 'C', 'D'};
  m->HandleExit(Io(0x3f8, false, bcd));
  EXPECT_EQ(sink.SerialText(), "ABCD");
  ExitStats stats = m->stats();
  EXPECT_EQ(stats.pio_by_device["uart0"], 2u);
  EXPECT_EQ(stats.by_kind[static_cast<int>(ExitKind::kPio)], 2u);
}

TEST_F(MachineTest, UnclaimedPortsAndMmioReadAllOnes) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  uint8_t word[2] = {0, 0};
  m->HandleExit(Io(0x2f8, true, word, 2));  // COM2 is not modelled
  EXPECT_EQ(word[0], 0xff);
  EXPECT_EQ(word[1], 0xff);
  EXPECT_EQ(m->stats().pio_by_device["unclaimed"], 1u);

  uint8_t mmio[4] = {1, 2, 3, 4};
  CpuExit e = Exit(ExitKind::kMmio);
  e.mmio = {0xfee00000, false, mmio};
  EXPECT_EQ(m->HandleExit(e).action, ExitOutcome::Action::kContinue);
  for (uint8_t b : mmio) EXPECT_EQ(b, 0xff);
}

TEST_F(MachineTest, DebugExitStopsWithTheValue) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  uint8_t value[4] = {7, 0, 0, 0};
  ExitOutcome o = m->HandleExit(Io(0xf4, false, value, 4));
  EXPECT_EQ(o.action, ExitOutcome::Action::kStop);
  EXPECT_EQ(o.reason, StopReason::kDebugExit);
  EXPECT_EQ(m->debug_exit_value(), 7u);
  EXPECT_EQ(StopExitStatus(o.reason, 7), 7);
}

TEST_F(MachineTest, HaltAndCrashesAreClassified) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  EXPECT_EQ(m->HandleExit(Exit(ExitKind::kHlt)).action,
            ExitOutcome::Action::kHalted);
  ExitOutcome o = m->HandleExit(Exit(ExitKind::kShutdown));
  EXPECT_EQ(o.action, ExitOutcome::Action::kStop);
  EXPECT_EQ(o.reason, StopReason::kTripleFault);
  EXPECT_NE(o.message.find("RIP 0x"), std::string::npos) << o.message;
  o = m->HandleExit(Exit(ExitKind::kInternalError, "cannot emulate 0f 0b"));
  EXPECT_EQ(o.reason, StopReason::kInternalError);
  EXPECT_NE(o.message.find("the fake backend cannot run the guest: cannot "
                           "emulate 0f 0b"),
            std::string::npos)
      << o.message;
  o = m->HandleExit(Exit(ExitKind::kFailEntry, "bad state"));
  EXPECT_EQ(o.reason, StopReason::kFailEntry);
  o = m->HandleExit(Exit(ExitKind::kUnsupported, "KVM_EXIT_DEBUG"));
  EXPECT_EQ(o.reason, StopReason::kUnsupportedExit);
  EXPECT_NE(o.message.find("KVM_EXIT_DEBUG"), std::string::npos);
}

// The ESN counts guest-initiated exits, one each; a kick is invisible.
TEST_F(MachineTest, EsnCountsGuestExitsOnly) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  uint8_t byte[4] = {};
  m->HandleExit(Io(0x80, false, byte));
  uint8_t batch[4] = {};
  m->HandleExit(Io(0x80, true, batch));  // four elements, one exit
  EXPECT_EQ(m->esn(), 2u);
  EXPECT_EQ(m->HandleExit(Exit(ExitKind::kHostInterrupt)).action,
            ExitOutcome::Action::kResume);
  EXPECT_EQ(m->esn(), 2u);
  m->HandleExit(Exit(ExitKind::kHlt));
  CpuExit mmio = Exit(ExitKind::kMmio);
  mmio.mmio = {0xfee00000, true, byte};
  m->HandleExit(mmio);
  EXPECT_EQ(m->esn(), 4u);
  m->HandleExit(Exit(ExitKind::kInternalError, "x"));
  EXPECT_EQ(m->esn(), 4u);
}

TEST_F(MachineTest, ImpossibleInputsAreRejectedUnapplied) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  ASSERT_TRUE(m->ApplyInput(InputEvent::ClockAdvance(5000)).ok());
  EXPECT_FALSE(m->ApplyInput(InputEvent::ClockAdvance(4999)).ok());
  EXPECT_EQ(m->platform().clock().now_ns(), 5000u);
  std::vector<uint8_t> too_many(m->platform().SerialRxFree() + 1, 'x');
  EXPECT_FALSE(m->ApplyInput(InputEvent::SerialRx(too_many)).ok());
  EXPECT_FALSE(m->ApplyInput(InputEvent::DiskReadCompletion(
                                 0, std::vector<uint8_t>(512)))
                   .ok());
  EXPECT_EQ(m->inputs_applied(), 1u);
}

TEST_F(MachineTest, ConfigOutOfRangeIsRefused) {
  RecordingOutputSink sink;
  MachineConfig config;
  config.memory_bytes = 1 << 20;
  EXPECT_FALSE(Machine::Create(idle_, config, &sink).ok());
  config.memory_bytes = 4ull << 30;
  EXPECT_FALSE(Machine::Create(idle_, config, &sink).ok());
}

// The machine's CPUID: the backend's default, or the configured one.
TEST_F(MachineTest, CpuidIsTheBackendsOrTheConfigured) {
  RecordingOutputSink sink;
  MachineConfig config;
  config.memory_bytes = 8 << 20;
  auto a = Machine::Create(idle_, config, &sink);
  ASSERT_TRUE(a.ok());
  auto defaults = idle_.DefaultCpuid();
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(std::vector<CpuidLeaf>((*a)->cpuid().begin(), (*a)->cpuid().end()),
            *defaults);
  config.cpuid = std::vector<CpuidLeaf>{{.function = 0, .eax = 7}};
  auto b = Machine::Create(idle_, config, &sink);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(std::vector<CpuidLeaf>((*b)->cpuid().begin(), (*b)->cpuid().end()),
            *config.cpuid);
  EXPECT_EQ((*b)->backend(), "fake");
}

// Every write the VMM makes to guest memory reaches the CPU (a software
// backend drops translated code for it).
TEST_F(MachineTest, VmmWritesAreToldToTheCpu) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  auto& cpu = dynamic_cast<FakeCpu&>(m->cpu());
  const uint64_t after_boot = cpu.vmm_writes_noted();
  EXPECT_GT(after_boot, 0u);  // the loader's
  uint8_t byte = 1;
  ASSERT_TRUE(m->memory().Write(0x5000, {&byte, 1}).ok());
  EXPECT_EQ(cpu.vmm_writes_noted(), after_boot + 1);
}

struct GuestRun {
  RunResult result;
  std::string output;
  Hash128 hash;
};

GuestRun RunFake(FakeProgram program, uint64_t clock_step_ns,
                 std::string serial = "") {
  FakeHypervisor hv(std::move(program));
  RecordingOutputSink sink;
  GuestRun run;
  auto m = NewMachine(hv, &sink);
  if (m == nullptr) return run;
  ScriptedInputs inputs(clock_step_ns, std::move(serial));
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 60});
  EXPECT_TRUE(r.ok()) << r.status();
  auto h = m->StateHash();
  EXPECT_TRUE(h.ok());
  run.result = r.ok() ? *r : RunResult{};
  run.output = sink.SerialText();
  run.hash = h.ok() ? *h : Hash128{};
  return run;
}

TEST_F(MachineTest, HelloRunsToDebugExit) {
  GuestRun run = RunFake(FakeHello("hi there\n", 3), 1000);
  EXPECT_EQ(run.result.reason, StopReason::kDebugExit) << run.result.message;
  EXPECT_EQ(run.result.exit_status, 3);
  EXPECT_EQ(run.output, "hi there\n");
  EXPECT_EQ(run.result.esn, 10u);  // 9 bytes and debug-exit
  EXPECT_TRUE(run.result.stopped_at_exit_boundary);
}

// With inputs that do not depend on the host, two runs are identical down
// to the last bit of state — a guest sleeping on timer interrupts, and one
// echoing serial input.
TEST_F(MachineTest, RunsAreDeterministicGivenTheSameInputs) {
  GuestRun a = RunFake(FakeTicker(20), 25'000);
  GuestRun b = RunFake(FakeTicker(20), 25'000);
  ASSERT_EQ(a.result.reason, StopReason::kDebugExit) << a.result.message;
  EXPECT_EQ(a.output, "ticks\n");
  EXPECT_EQ(a.result.esn, b.result.esn);
  EXPECT_EQ(a.hash, b.hash);
  // The inputs really matter: another clock step, another state.
  GuestRun c = RunFake(FakeTicker(20), 26'000);
  EXPECT_NE(a.hash, c.hash);

  GuestRun e1 = RunFake(FakeEcho(), 1000, "abcQ");
  GuestRun e2 = RunFake(FakeEcho(), 1000, "abcQ");
  ASSERT_EQ(e1.result.reason, StopReason::kDebugExit) << e1.result.message;
  EXPECT_EQ(e1.output, "abcQ");
  EXPECT_EQ(e1.hash, e2.hash);
  // The echo guest keeps the last byte and a count: a longer input, another
  // final state.
  GuestRun e3 = RunFake(FakeEcho(), 1000, "abcdQ");
  EXPECT_EQ(e3.output, "abcdQ");
  EXPECT_NE(e1.hash, e3.hash);
}

// A `rep outs` is one exit per element (hypervisor/string_io.h).
TEST_F(MachineTest, StringOutIsOneExitPerElement) {
  GuestRun run = RunFake(FakeStringOut("string I/O\n", 0x200000), 1000);
  ASSERT_EQ(run.result.reason, StopReason::kDebugExit) << run.result.message;
  EXPECT_EQ(run.output, "string I/O\n");
  EXPECT_EQ(run.result.esn, 12u);  // 11 elements and debug-exit
}

// A run stopped in the middle of the rendezvous after an exit (its input
// source or its observer failing, before inputs, while halted, before the
// observer) is taken up where it stopped by the next RunMachine: the guest
// ends in exactly the state of a run never stopped.
TEST_F(MachineTest, ARunStoppedMidRendezvousResumesExactly) {
  const GuestRun whole = RunFake(FakeTicker(30), 25'000);
  ASSERT_EQ(whole.result.reason, StopReason::kDebugExit);

  FakeHypervisor hv(FakeTicker(30));
  RecordingOutputSink sink;
  auto m = NewMachine(hv, &sink);
  ASSERT_NE(m, nullptr);
  ScriptedInputs scripted(25'000);
  StoppingInputs inputs(&scripted);
  StoppingObserver observer;
  absl::StatusOr<RunResult> r = RunThroughStops(*m, inputs, observer);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(inputs.stops(), 10u);
  EXPECT_GT(observer.stops(), 3u);
  EXPECT_EQ(r->reason, StopReason::kDebugExit) << r->message;
  EXPECT_EQ(r->esn, whole.result.esn);
  EXPECT_EQ(sink.SerialText(), whole.output);
  auto hash = m->StateHash();
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, whole.hash);
}

// A RunController stop (what Ctrl-C does in xvirt) ends a run even while
// the guest computes without any exit.
TEST_F(MachineTest, ControllerStopsASpinningGuest) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  ScriptedInputs inputs(1000);
  RunController controller;
  std::thread stopper([&controller] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    controller.RequestStop();
  });
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 30}, &controller);
  stopper.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reason, StopReason::kInterrupted);
  EXPECT_EQ(r->exit_status, 130);
  EXPECT_FALSE(r->stopped_at_exit_boundary);
  EXPECT_LT(r->wall_seconds, 10);
}

TEST_F(MachineTest, TimeoutStopsASpinningGuest) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  ScriptedInputs inputs(1000);
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 0.2});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reason, StopReason::kTimeout);
  EXPECT_EQ(r->exit_status, 124);
  EXPECT_GE(r->wall_seconds, 0.2);
  EXPECT_LT(r->wall_seconds, 5);
}

// A guest halted with interrupts off can never wake: the run says so.
TEST_F(MachineTest, HaltWithInterruptsOffEndsTheRun) {
  FakeProgram p;
  // Every PIC line masked: nothing can even be pending.
  p.Set("rax", 0xff).Out(0x21, "rax").Out(0xa1, "rax");
  p.Cli().Hlt();
  GuestRun run = RunFake(std::move(p), 1000);
  EXPECT_EQ(run.result.reason, StopReason::kHaltedForever);
  EXPECT_NE(run.result.message.find("interrupts disabled"), std::string::npos)
      << run.result.message;
}

// The state hash covers the CPU, the devices and memory.
TEST_F(MachineTest, StateHashCoversCpuDevicesAndMemory) {
  RecordingOutputSink sink;
  auto m = NewMachine(idle_, &sink);
  auto h0 = m->StateHash();
  ASSERT_TRUE(h0.ok());
  ASSERT_TRUE(
      m->cpu().ModifyRegs([](GeneralRegisters& regs) { regs.r12 ^= 1; }).ok());
  auto h1 = m->StateHash();
  ASSERT_TRUE(h1.ok());
  EXPECT_NE(*h0, *h1);
  uint8_t byte = 0x5a;
  ASSERT_TRUE(m->memory().Write(0x7000, {&byte, 1}).ok());
  auto h2 = m->StateHash();
  ASSERT_TRUE(h2.ok());
  EXPECT_NE(*h1, *h2);
  const std::vector<uint8_t> x = {'x'};
  ASSERT_TRUE(m->ApplyInput(InputEvent::SerialRx(x)).ok());
  auto h3 = m->StateHash();
  ASSERT_TRUE(h3.ok());
  EXPECT_NE(*h2, *h3);
  auto h4 = m->StateHash();
  ASSERT_TRUE(h4.ok());
  EXPECT_EQ(*h3, *h4);
}

}  // namespace
}  // namespace xv
