// Machine and run loop on every backend with real SDK guests: whole runs,
// determinism given host-independent inputs, a run stopped mid-rendezvous
// resuming exactly, stops and timeouts of guests computing without exits,
// and the string-I/O rule of hypervisor/cpu_exit.h. (machine/machine_test
// covers the same code on the scripted fake backend.)
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "hypervisor/string_io.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/stopping_run.h"
#include "tests/runfiles.h"
#include "tests/test_backends.h"

namespace xv {
namespace {

using ::xv::testing::RunThroughStops;
using ::xv::testing::StoppingInputs;
using ::xv::testing::StoppingObserver;

using ::xv::testing::GuestPath;
using ::xv::testing::ReadFileBytes;

struct GuestRun {
  RunResult result;
  std::string output;
  Hash128 hash;
  // ESNs of every rendezvous.
  std::vector<uint64_t> rendezvous;
};

class RendezvousLog : public RunObserver {
 public:
  absl::Status AtRendezvous(Machine& m) override {
    esns.push_back(m.esn());
    return absl::OkStatus();
  }
  std::vector<uint64_t> esns;
};

std::unique_ptr<Machine> Boot(const Hypervisor& hv, RecordingOutputSink* sink,
                              const std::string& guest,
                              const std::string& cmdline) {
  MachineConfig config;
  config.memory_bytes = 64 << 20;
  config.platform.rtc_epoch_seconds = 1'800'000'000;
  auto m = Machine::Create(hv, config, sink);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  std::vector<uint8_t> image = ReadFileBytes(GuestPath(guest));
  auto k = (*m)->BootMultiboot(image, guest, {.cmdline = cmdline});
  EXPECT_TRUE(k.ok()) << k.status();
  return std::move(*m);
}

GuestRun RunGuest(const Hypervisor& hv, const std::string& guest,
                  const std::string& cmdline, uint64_t clock_step_ns) {
  RecordingOutputSink sink;
  GuestRun run;
  auto m = Boot(hv, &sink, guest, cmdline);
  if (m == nullptr) return run;
  ScriptedInputs inputs(clock_step_ns);
  RendezvousLog log;
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 60, .observer = &log});
  EXPECT_TRUE(r.ok()) << r.status();
  auto h = m->StateHash();
  EXPECT_TRUE(h.ok());
  run.result = r.ok() ? *r : RunResult{};
  run.output = sink.SerialText();
  run.hash = h.ok() ? *h : Hash128{};
  run.rendezvous = std::move(log.esns);
  return run;
}

class MachineGuestTest : public ::testing::TestWithParam<std::string> {};

TEST_P(MachineGuestTest, HelloRunsToDebugExit) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  GuestRun run = RunGuest(*hv, "hello", "", 1000);
  EXPECT_EQ(run.result.reason, StopReason::kDebugExit) << run.result.message;
  EXPECT_EQ(run.result.exit_status, 0);
  EXPECT_EQ(run.output, "Hello from the xvirt guest SDK!\n");
  EXPECT_GT(run.result.esn, 0u);
}

// With inputs that do not depend on the host, two runs are identical down
// to the last bit of state — including a guest that sleeps on timer
// interrupts (sti; hlt) and reads the RTC.
TEST_P(MachineGuestTest, RunsAreDeterministicGivenTheSameInputs) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  for (const char* guest : {"hello", "timer"}) {
    GuestRun a = RunGuest(*hv, guest, "", 25'000);
    GuestRun b = RunGuest(*hv, guest, "", 25'000);
    EXPECT_EQ(a.result.reason, StopReason::kDebugExit) << a.result.message;
    EXPECT_EQ(a.result.exit_status, 0) << guest << ": " << a.output;
    EXPECT_EQ(a.result.esn, b.result.esn) << guest;
    EXPECT_EQ(a.output, b.output) << guest;
    EXPECT_EQ(a.hash, b.hash) << guest;
    EXPECT_EQ(a.rendezvous, b.rendezvous) << guest;
    // And the inputs really matter: another clock step, another state.
    GuestRun c = RunGuest(*hv, guest, "", 26'000);
    EXPECT_NE(a.hash, c.hash) << guest;
  }
}

// Watches the string_io guest: the exits of its VRO-port string
// instructions, and RIP at the rendezvous after each `rep outs` element.
class StringIoWatch : public RunObserver {
 public:
  absl::Status AtRendezvous(Machine& m) override {
    // After the last element of the `rep outs` (RCX = 0), RIP is past it:
    // the bytes at RIP are not that `rep outs` (f3 6e/6f, 66 f3 6f).
    const GeneralRegisters& r = m.cpu().regs();
    if (m.DescribeLastExit().find("pio out port 0x80") == 0 && r.rcx == 0) {
      ++last_elements;
      uint8_t b[3] = {};
      if (!m.memory().Read(r.rip, b).ok()) return absl::OkStatus();
      const bool at_outs = (b[0] == 0xf3 && (b[1] == 0x6e || b[1] == 0x6f)) ||
                           (b[0] == 0x66 && b[1] == 0xf3 && b[2] == 0x6f);
      if (at_outs) ++rip_left_at_outs;
    }
    return absl::OkStatus();
  }
  int last_elements = 0;
  int rip_left_at_outs = 0;
};

// The string-I/O rule (hypervisor/string_io.h): a `rep outs` of n elements
// is n exits, a `rep ins` is the batches InsBatchElements() makes, and
// after the last element of the `rep outs` RIP is past it.
TEST_P(MachineGuestTest, StringIoFollowsTheRule) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  for (int cpl : {3, 0}) {
    for (int width : {1, 2, 4}) {
      for (uint64_t n : {1, 300, 3000}) {
        const std::string cmdline =
            absl::StrFormat("n=%d width=%d cpl=%d", n, width, cpl);
        RecordingOutputSink sink;
        auto m = Boot(*hv, &sink, "testcases/string_io", cmdline);
        ASSERT_NE(m, nullptr);
        ScriptedInputs inputs(1000);
        StringIoWatch watch;
        auto r =
            RunMachine(*m, inputs, {.timeout_seconds = 60, .observer = &watch});
        ASSERT_TRUE(r.ok()) << r.status();
        ASSERT_EQ(r->reason, StopReason::kDebugExit)
            << cmdline << ": " << r->message;
        EXPECT_EQ(sink.SerialText(),
                  absl::StrFormat("string_io: n=%d width=%d cpl=%d\n"
                                  "outs: rcx=0 rsi=+%d\n"
                                  "ins: rcx=0 rdi=+%d sum=%d\n",
                                  n, width, cpl, n * width, n * width,
                                  n * width * 255))
            << cmdline;
        // The guest's `rep ins` starts 100 bytes before a page boundary.
        uint64_t batches = 0;
        for (uint64_t left = n, rdi = 4096 - 100; left > 0; ++batches) {
          const uint64_t k = InsBatchElements(left, rdi, false, width);
          left -= k;
          rdi += k * width;
        }
        EXPECT_EQ(m->stats().pio_by_device["vro"], n + batches) << cmdline;
        EXPECT_EQ(watch.last_elements, 1) << cmdline;
        EXPECT_EQ(watch.rip_left_at_outs, 0) << cmdline;
      }
    }
  }
}

// A run stopped in the middle of the rendezvous after an exit (its input
// source or its observer failing, before inputs, while halted, before the
// observer) is taken up where it stopped by the next RunMachine: the guest
// ends in exactly the state of a run never stopped (a replica stopped for a
// vote must resume like this).
TEST_P(MachineGuestTest, ARunStoppedMidRendezvousResumesExactly) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const GuestRun whole = RunGuest(*hv, "timer", "", 25'000);
  ASSERT_EQ(whole.result.reason, StopReason::kDebugExit);

  RecordingOutputSink sink;
  auto m = Boot(*hv, &sink, "timer", "");
  ASSERT_NE(m, nullptr);
  ScriptedInputs scripted(25'000);
  StoppingInputs inputs(&scripted);
  StoppingObserver observer;
  absl::StatusOr<RunResult> r = RunThroughStops(*m, inputs, observer);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(inputs.stops(), 10u);
  EXPECT_GT(observer.stops(), 10u);
  EXPECT_EQ(r->reason, StopReason::kDebugExit) << r->message;
  EXPECT_EQ(r->esn, whole.result.esn);
  EXPECT_EQ(sink.SerialText(), whole.output);
  auto hash = m->StateHash();
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(*hash, whole.hash);
}

// A RunController stop (what Ctrl-C does in xvirt) ends a run even while
// the guest computes without any exit.
TEST_P(MachineGuestTest, ControllerStopsASpinningGuest) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  RecordingOutputSink sink;
  auto m = Boot(*hv, &sink, "testcases/spin", "");
  ASSERT_NE(m, nullptr);
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
  EXPECT_FALSE(r->stopped_at_exit_boundary);
  EXPECT_LT(r->wall_seconds, 10);
  EXPECT_EQ(sink.SerialText(), "spin: looping forever at CPL3 without exits\n");
}

TEST_P(MachineGuestTest, TimeoutStopsAGuestSpinningAtCpl0) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  RecordingOutputSink sink;
  auto m = Boot(*hv, &sink, "testcases/cpl0_loop", "");
  ASSERT_NE(m, nullptr);
  ScriptedInputs inputs(1000);
  auto r = RunMachine(*m, inputs, {.timeout_seconds = 0.3});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reason, StopReason::kTimeout);
  EXPECT_EQ(r->exit_status, 124);
  EXPECT_GE(r->wall_seconds, 0.3);
  EXPECT_LT(r->wall_seconds, 5);
}

INSTANTIATE_TEST_SUITE_P(Backends, MachineGuestTest,
                         ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace xv
