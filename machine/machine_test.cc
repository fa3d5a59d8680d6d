// Machine and run loop against real KVM: the exit handler fed made-up exits
// (STYLE #4), and whole runs of SDK guests with host-independent inputs.
#include "machine/machine.h"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_support.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "tests/runfiles.h"

namespace xv {
namespace {

using ::xv::testing::GuestPath;
using ::xv::testing::ReadFileBytes;

class MachineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    XV_SKIP_WITHOUT_KVM();
    auto kvm = KvmSystem::Open();
    ASSERT_TRUE(kvm.ok());
    kvm_ = std::make_unique<KvmSystem>(std::move(*kvm));
  }

  std::unique_ptr<Machine> NewMachine(RecordingOutputSink* sink,
                                      uint64_t mem = 64 << 20) {
    MachineConfig config;
    config.memory_bytes = mem;
    auto m = Machine::Create(*kvm_, config, sink);
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? std::move(*m) : nullptr;
  }

  // A VcpuExit for `out`/`in` at `port` whose data lives in `buf`.
  static VcpuExit Io(uint16_t port, bool in, std::span<uint8_t> buf,
                     uint8_t size = 1) {
    VcpuExit e;
    e.kind = ExitKind::kIo;
    e.io = {port, size, in, static_cast<uint32_t>(buf.size() / size), buf};
    return e;
  }

  std::unique_ptr<KvmSystem> kvm_;
};

TEST_F(MachineTest, PortWritesReachFrontEndsAndOutputs) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  uint8_t a[] = {'A'};
  ExitOutcome o = m->HandleExit(Io(0x3f8, false, a));
  EXPECT_EQ(o.action, ExitOutcome::Action::kContinue);
  // A `rep outsb` batch: three elements in one exit.
  uint8_t bcd[] = {'B', 'C', 'D'};
  m->HandleExit(Io(0x3f8, false, bcd));
  EXPECT_EQ(sink.SerialText(), "ABCD");
  ExitStats stats = m->stats();
  EXPECT_EQ(stats.pio_by_device["uart0"], 2u);
  EXPECT_EQ(stats.by_kind[static_cast<int>(ExitKind::kIo)], 2u);
}

TEST_F(MachineTest, UnclaimedPortsAndMmioReadAllOnes) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  uint8_t word[2] = {0, 0};
  m->HandleExit(Io(0x2f8, true, word, 2));  // COM2 is not modelled
  EXPECT_EQ(word[0], 0xff);
  EXPECT_EQ(word[1], 0xff);
  EXPECT_EQ(m->stats().pio_by_device["unclaimed"], 1u);

  uint8_t mmio[4] = {1, 2, 3, 4};
  VcpuExit e;
  e.kind = ExitKind::kMmio;
  e.mmio = {0xfee00000, false, mmio};
  EXPECT_EQ(m->HandleExit(e).action, ExitOutcome::Action::kContinue);
  for (uint8_t b : mmio) EXPECT_EQ(b, 0xff);
}

TEST_F(MachineTest, DebugExitStopsWithTheValue) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  uint8_t value[4] = {7, 0, 0, 0};
  ExitOutcome o = m->HandleExit(Io(0xf4, false, value, 4));
  EXPECT_EQ(o.action, ExitOutcome::Action::kStop);
  EXPECT_EQ(o.reason, StopReason::kDebugExit);
  EXPECT_EQ(m->debug_exit_value(), 7u);
  EXPECT_EQ(StopExitStatus(o.reason, 7), 7);
}

TEST_F(MachineTest, HaltAndCrashesAreClassified) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  VcpuExit hlt;
  hlt.kind = ExitKind::kHlt;
  EXPECT_EQ(m->HandleExit(hlt).action, ExitOutcome::Action::kHalted);
  VcpuExit shutdown;
  shutdown.kind = ExitKind::kShutdown;
  ExitOutcome o = m->HandleExit(shutdown);
  EXPECT_EQ(o.action, ExitOutcome::Action::kStop);
  EXPECT_EQ(o.reason, StopReason::kTripleFault);
  EXPECT_NE(o.message.find("RIP 0x"), std::string::npos) << o.message;
  VcpuExit internal;
  internal.kind = ExitKind::kInternalError;
  internal.suberror = 1;
  o = m->HandleExit(internal);
  EXPECT_EQ(o.reason, StopReason::kInternalError);
  EXPECT_NE(o.message.find("emulation failure"), std::string::npos);
}

TEST_F(MachineTest, ImpossibleInputsAreRejectedUnapplied) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  ASSERT_TRUE(m->ApplyInput(InputEvent::ClockAdvance(5000)).ok());
  EXPECT_FALSE(m->ApplyInput(InputEvent::ClockAdvance(4999)).ok());
  EXPECT_EQ(m->platform().clock().now_ns(), 5000u);
  std::vector<uint8_t> too_many(m->platform().SerialRxFree() + 1, 'x');
  EXPECT_FALSE(m->ApplyInput(InputEvent::SerialRx(too_many)).ok());
  EXPECT_FALSE(m->ApplyInput(InputEvent::DiskReadCompletion(
                                 0, std::vector<uint8_t>(512)))
                   .ok());
}

TEST_F(MachineTest, ConfigOutOfRangeIsRefused) {
  RecordingOutputSink sink;
  MachineConfig config;
  config.memory_bytes = 1 << 20;
  EXPECT_FALSE(Machine::Create(*kvm_, config, &sink).ok());
  config.memory_bytes = 4ull << 30;
  EXPECT_FALSE(Machine::Create(*kvm_, config, &sink).ok());
}

struct GuestRun {
  RunResult result;
  std::string output;
  Hash128 hash;
};

GuestRun RunGuest(const KvmSystem& kvm, const std::string& guest,
                  const std::string& cmdline, uint64_t clock_step_ns) {
  RecordingOutputSink sink;
  MachineConfig config;
  config.memory_bytes = 64 << 20;
  config.platform.rtc_epoch_seconds = 1'800'000'000;
  auto m = Machine::Create(kvm, config, &sink);
  EXPECT_TRUE(m.ok()) << m.status();
  std::vector<uint8_t> image = ReadFileBytes(GuestPath(guest));
  auto k = (*m)->BootMultiboot(image, guest, {.cmdline = cmdline});
  EXPECT_TRUE(k.ok()) << k.status();
  ScriptedInputs inputs(clock_step_ns);
  auto r = RunMachine(**m, inputs, {.timeout_seconds = 60});
  EXPECT_TRUE(r.ok()) << r.status();
  auto h = (*m)->StateHash();
  EXPECT_TRUE(h.ok());
  return {*r, sink.SerialText(), *h};
}

TEST_F(MachineTest, HelloRunsToDebugExit) {
  GuestRun run = RunGuest(*kvm_, "hello", "", 1000);
  EXPECT_EQ(run.result.reason, StopReason::kDebugExit) << run.result.message;
  EXPECT_EQ(run.result.exit_status, 0);
  EXPECT_EQ(run.output, "Hello from the xvirt guest SDK!\n");
  EXPECT_GT(run.result.esn, 0u);
}

// With inputs that do not depend on the host, two runs are identical down
// to the last bit of state — including a guest that sleeps on timer
// interrupts (sti; hlt) and reads the RTC.
TEST_F(MachineTest, RunsAreDeterministicGivenTheSameInputs) {
  for (const char* guest : {"hello", "timer"}) {
    GuestRun a = RunGuest(*kvm_, guest, "", 25'000);
    GuestRun b = RunGuest(*kvm_, guest, "", 25'000);
    EXPECT_EQ(a.result.reason, StopReason::kDebugExit) << a.result.message;
    EXPECT_EQ(a.result.exit_status, 0) << guest << ": " << a.output;
    EXPECT_EQ(a.result.esn, b.result.esn) << guest;
    EXPECT_EQ(a.output, b.output) << guest;
    EXPECT_EQ(a.hash, b.hash) << guest;
    // And the inputs really matter: another clock step, another state.
    GuestRun c = RunGuest(*kvm_, guest, "", 26'000);
    EXPECT_NE(a.hash, c.hash) << guest;
  }
}

// A run stopped in the middle of the rendezvous after an exit (its input
// source or its observer failing, before inputs, while halted, before the
// observer) is taken up where it stopped by the next RunMachine: the guest
// ends in exactly the state of a run never stopped (a replica stopped for a
// vote must resume like this).
class StoppingInputs : public InputSource {
 public:
  explicit StoppingInputs(InputSource* inner) : inner_(inner) {}
  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    if (m.esn() % 5 == 0 && stopped_poll_.insert(m.esn()).second) {
      return absl::AbortedError("stop before the inputs");
    }
    return inner_->Poll(m, out);
  }
  absl::Status WaitForWakeup(const Machine& m, uint64_t deadline,
                             std::vector<InputEvent>& out) override {
    if (stopped_wait_.insert(m.esn()).second) {
      return absl::AbortedError("stop while halted");
    }
    return inner_->WaitForWakeup(m, deadline, out);
  }
  size_t stops() const { return stopped_poll_.size() + stopped_wait_.size(); }

 private:
  InputSource* inner_;
  std::set<uint64_t> stopped_poll_, stopped_wait_;
};

class StoppingObserver : public RunObserver {
 public:
  absl::Status AtRendezvous(Machine& m) override {
    if (m.esn() % 7 == 0 && stopped_.insert(m.esn()).second) {
      return absl::AbortedError("stop before the observer");
    }
    return absl::OkStatus();
  }
  size_t stops() const { return stopped_.size(); }

 private:
  std::set<uint64_t> stopped_;
};

TEST_F(MachineTest, ARunStoppedMidRendezvousResumesExactly) {
  const GuestRun whole = RunGuest(*kvm_, "timer", "", 25'000);
  ASSERT_EQ(whole.result.reason, StopReason::kDebugExit);

  RecordingOutputSink sink;
  MachineConfig config;
  config.memory_bytes = 64 << 20;
  config.platform.rtc_epoch_seconds = 1'800'000'000;
  auto m = Machine::Create(*kvm_, config, &sink);
  ASSERT_TRUE(m.ok()) << m.status();
  std::vector<uint8_t> image = ReadFileBytes(GuestPath("timer"));
  ASSERT_TRUE((*m)->BootMultiboot(image, "timer", {}).ok());
  ScriptedInputs scripted(25'000);
  StoppingInputs inputs(&scripted);
  StoppingObserver observer;
  absl::StatusOr<RunResult> r;
  int runs = 0;
  for (;; ++runs) {
    ASSERT_LT(runs, 100'000);
    r = RunMachine(**m, inputs, {.timeout_seconds = 60, .observer = &observer});
    if (r.ok()) break;
    ASSERT_TRUE(absl::IsAborted(r.status())) << r.status();
  }
  EXPECT_GT(inputs.stops(), 10u);
  EXPECT_GT(observer.stops(), 10u);
  EXPECT_EQ(r->reason, StopReason::kDebugExit) << r->message;
  EXPECT_EQ(r->esn, whole.result.esn);
  EXPECT_EQ(sink.SerialText(), whole.output);
  auto hash = (*m)->StateHash();
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, whole.hash);
}

// A RunController stop (what Ctrl-C does in xvirt) ends a run even while
// the guest computes without any exit.
TEST_F(MachineTest, ControllerStopsASpinningGuest) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  std::vector<uint8_t> image = ReadFileBytes(GuestPath("testcases/spin"));
  ASSERT_TRUE(m->BootMultiboot(image, "spin", {}).ok());
  ScriptedInputs inputs(1000);
  RunController controller;
  std::thread stopper([&controller] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    controller.RequestStop();
  });
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 30}, &controller);
  stopper.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reason, StopReason::kInterrupted);
  EXPECT_EQ(r->exit_status, 130);
  EXPECT_LT(r->wall_seconds, 10);
  EXPECT_EQ(sink.SerialText(), "spin: looping forever at CPL3 without exits\n");
}

TEST_F(MachineTest, TimeoutStopsAGuestSpinningAtCpl0) {
  RecordingOutputSink sink;
  auto m = NewMachine(&sink);
  std::vector<uint8_t> image = ReadFileBytes(GuestPath("testcases/cpl0_loop"));
  ASSERT_TRUE(m->BootMultiboot(image, "cpl0_loop", {}).ok());
  ScriptedInputs inputs(1000);
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 0.3});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reason, StopReason::kTimeout);
  EXPECT_EQ(r->exit_status, 124);
  EXPECT_GE(r->wall_seconds, 0.3);
  EXPECT_LT(r->wall_seconds, 5);
}

}  // namespace
}  // namespace xv
