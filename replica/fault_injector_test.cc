// FaultInjector on machines of the scripted fake backend running the echo
// guest: each kind of fault lands where its spec says, as verification then
// sees it.
#include "replica/fault_injector.h"

#include <chrono>
#include <thread>

#include "checkpoint/verify.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/machine.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/fake_guests.h"

namespace xv {
namespace {

constexpr char kSession[] = "SET a 1\nGET a\nSET b 2\nCOUNT\nQ";

struct Replica {
  RecordingOutputSink out;
  std::unique_ptr<Machine> machine;
  ScriptedInputs inputs{20'000, kSession};
};

std::unique_ptr<Replica> Boot(const Hypervisor& hv) {
  auto r = std::make_unique<Replica>();
  MachineConfig config;
  config.memory_bytes = 32ull << 20;
  auto m = Machine::Create(hv, config, &r->out);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  r->machine = std::move(*m);
  auto k = r->machine->BootMultiboot(testing::FakeKernelImage(), "echo", {});
  EXPECT_TRUE(k.ok()) << k.status();
  return r;
}

absl::StatusOr<RunResult> RunTo(Replica& r, uint64_t esn) {
  StopAtEsn stop(esn);
  return RunMachine(*r.machine, r.inputs,
                    {.timeout_seconds = 60, .observer = &stop});
}

class FaultInjectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clean_ = Boot(hv_);
    faulty_ = Boot(hv_);
    ASSERT_TRUE(clean_ && faulty_);
  }

  // Runs both to ESN 10, the faulty one with `spec` injected, and verifies.
  Verification InjectAndVerify(const FaultSpec& spec) {
    StopAtEsn stop(10);
    FaultInjector injector(spec, &stop);
    EXPECT_TRUE(RunTo(*clean_, 10).ok());
    auto r = RunMachine(*faulty_->machine, faulty_->inputs,
                        {.timeout_seconds = 60, .observer = &injector});
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(injector.injected());
    auto v = VerifyReplicas(*clean_->machine, *faulty_->machine);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : Verification{};
  }

  FakeHypervisor hv_{testing::FakeEcho()};
  std::unique_ptr<Replica> clean_, faulty_;
};

TEST_F(FaultInjectorTest, RegisterBitIsThatRegister) {
  Verification v = InjectAndVerify(
      {.kind = FaultKind::kRegisterBit, .esn = 10, .reg = "rbx", .bit = 3});
  ASSERT_EQ(v.differences.size(), 1u) << v.Describe();
  EXPECT_EQ(v.differences[0].what, "rbx");
}

TEST_F(FaultInjectorTest, MemoryBitIsThatPage) {
  Verification v = InjectAndVerify(
      {.kind = FaultKind::kMemoryBit, .esn = 10, .gpa = 0x301234, .bit = 2});
  ASSERT_EQ(v.differences.size(), 1u) << v.Describe();
  EXPECT_EQ(v.differences[0].gpa, 0x301000u);
}

TEST_F(FaultInjectorTest, CrashEndsTheRunWithAnError) {
  StopAtEsn stop(100);
  FaultInjector injector({.kind = FaultKind::kCrash, .esn = 10}, &stop);
  auto r = RunMachine(*faulty_->machine, faulty_->inputs,
                      {.timeout_seconds = 60, .observer = &injector});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("crash injected at ESN 10"),
            absl::string_view::npos)
      << r.status();
  EXPECT_EQ(faulty_->machine->esn(), 10u);
}

TEST_F(FaultInjectorTest, HangHoldsTheReplicaUntilReleased) {
  StopAtEsn stop(100);
  FaultInjector injector({.kind = FaultKind::kHang, .esn = 10}, &stop);
  std::atomic<bool> done{false};
  absl::Status status;
  std::thread runner([&] {
    status = RunMachine(*faulty_->machine, faulty_->inputs,
                        {.timeout_seconds = 60, .observer = &injector})
                 .status();
    done.store(true);
  });
  for (int i = 0; i < 1000 && !injector.injected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(injector.injected());
  // Hung: still at ESN 10 a while later, its run not over.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(done.load());
  EXPECT_EQ(faulty_->machine->esn(), 10u);
  injector.ReleaseHang();
  runner.join();
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
}

}  // namespace
}  // namespace xv
