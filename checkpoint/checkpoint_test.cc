// Checkpoint capture, restore and verification on the scripted fake backend
// (no hypervisor): a machine restored from a checkpoint behaves bit for bit
// like the original; verification names what differs — a register by name,
// a page by address, a device, the clock, the position.
#include "checkpoint/checkpoint.h"

#include <memory>
#include <string>

#include "checkpoint/verify.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/fake_guests.h"

namespace xv {
namespace {

using ::xv::testing::FakeEcho;
using ::xv::testing::FakeKernelImage;

constexpr char kSession[] = "checkpointed session\nQ";

struct Replica {
  RecordingOutputSink out;
  std::unique_ptr<Machine> machine;
  ScriptedInputs inputs{10'000, kSession};
};

std::unique_ptr<Replica> Boot(const Hypervisor& hv,
                              std::shared_ptr<MemoryBase> base = nullptr) {
  auto r = std::make_unique<Replica>();
  MachineConfig config;
  config.memory_bytes = 8 << 20;
  config.memory_base = std::move(base);
  auto m = Machine::Create(hv, config, &r->out);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  r->machine = std::move(*m);
  EXPECT_TRUE(r->machine->BootMultiboot(FakeKernelImage(), "echo", {}).ok());
  return r;
}

RunResult RunTo(Replica& r, uint64_t esn) {
  StopAtEsn stop(esn);
  auto result = RunMachine(*r.machine, r.inputs,
                           {.timeout_seconds = 60, .observer = &stop});
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : RunResult{};
}

class CheckpointTest : public ::testing::Test {
 protected:
  FakeHypervisor hv_{FakeEcho()};
};

TEST_F(CheckpointTest, ARestoredMachineGoesOnExactlyLikeTheOriginal) {
  auto a = Boot(hv_);
  ASSERT_NE(a, nullptr);
  RunTo(*a, 30);
  auto cp = CaptureCheckpoint(*a->machine);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->esn, a->machine->esn());
  EXPECT_EQ(CheckpointStateHash(*cp), cp->state_hash);
  EXPECT_FALSE(cp->delta_pages.empty());  // the pages the guest wrote

  const std::string before = a->out.SerialText();
  RecordingOutputSink b_out;
  auto b = RestoreCheckpoint(hv_, *cp, &b_out);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->esn(), cp->esn);
  ScriptedInputs b_inputs = a->inputs;
  auto ra = RunMachine(*a->machine, a->inputs, {.timeout_seconds = 60});
  auto rb = RunMachine(**b, b_inputs, {.timeout_seconds = 60});
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ra->reason, StopReason::kDebugExit);
  EXPECT_EQ(ra->esn, rb->esn);
  EXPECT_EQ(a->out.SerialText(), kSession);
  EXPECT_FALSE(b_out.SerialText().empty());
  EXPECT_EQ(before + b_out.SerialText(), kSession);
  auto ha = a->machine->StateHash();
  auto hb = (*b)->StateHash();
  ASSERT_TRUE(ha.ok() && hb.ok());
  EXPECT_EQ(*ha, *hb);
}

TEST_F(CheckpointTest, ACheckpointWithoutDigestsGetsThemBack) {
  auto a = Boot(hv_);
  RunTo(*a, 20);
  auto cp = CaptureCheckpoint(*a->machine, /*copy_delta=*/true,
                              /*page_digests=*/false);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->page_hashes, nullptr);
  ASSERT_TRUE(RehashCheckpointPages(*cp).ok());
  ASSERT_NE(cp->page_hashes, nullptr);
  EXPECT_EQ(CheckpointStateHash(*cp), cp->state_hash);
  RecordingOutputSink out;
  EXPECT_TRUE(RestoreCheckpoint(hv_, *cp, &out).ok());
}

// A checkpoint whose content does not hash to its state hash is refused at
// restore.
TEST_F(CheckpointTest, RestoreChecksTheStateHash) {
  auto a = Boot(hv_);
  RunTo(*a, 20);
  auto cp = CaptureCheckpoint(*a->machine);
  ASSERT_TRUE(cp.ok());
  cp->cpu.arch.regs.r9 ^= 4;
  RecordingOutputSink out;
  auto b = RestoreCheckpoint(hv_, *cp, &out);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kDataLoss);
}

class VerifyTest : public CheckpointTest {
 protected:
  void SetUp() override {
    base_ = MemoryBase::Create(8 << 20).value();
    a_ = Boot(hv_, base_);
    b_ = Boot(hv_, base_);
    ASSERT_TRUE(a_ && b_);
    RunTo(*a_, 25);
    RunTo(*b_, 25);
  }
  Verification Verify() {
    auto v = VerifyReplicas(*a_->machine, *b_->machine);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : Verification{};
  }
  std::shared_ptr<MemoryBase> base_;
  std::unique_ptr<Replica> a_, b_;
};

TEST_F(VerifyTest, IdenticalReplicasVerify) {
  Verification v = Verify();
  EXPECT_TRUE(v.verified()) << v.Describe();
  EXPECT_EQ(v.esn, 25u);
  EXPECT_GT(v.pages_compared, 0u);
}

TEST_F(VerifyTest, ARegisterIsNamed) {
  ASSERT_TRUE(b_->machine->cpu()
                  .ModifyRegs([](GeneralRegisters& r) { r.rbx ^= 1ull << 17; })
                  .ok());
  Verification v = Verify();
  ASSERT_EQ(v.differences.size(), 1u) << v.Describe();
  EXPECT_EQ(v.differences[0].kind, Difference::Kind::kRegister);
  EXPECT_EQ(v.differences[0].what, "rbx");
}

TEST_F(VerifyTest, AnArchitecturalFieldBeyondTheGprsIsNamed) {
  auto st = b_->machine->cpu().CaptureState();
  ASSERT_TRUE(st.ok());
  st->arch.xmm[3][0] ^= 1;
  st->arch.msrs[5] ^= 0x1000;  // LSTAR
  ASSERT_TRUE(b_->machine->cpu().RestoreState(*st).ok());
  Verification v = Verify();
  ASSERT_EQ(v.differences.size(), 2u) << v.Describe();
  EXPECT_EQ(v.differences[0].what, "xmm3");
  EXPECT_EQ(v.differences[1].what, "msr 0xc0000082 (LSTAR)");
}

TEST_F(VerifyTest, APageIsNamedByItsAddress) {
  uint8_t byte = 0;
  ASSERT_TRUE(b_->machine->memory().Read(0x123456, {&byte, 1}).ok());
  byte ^= 8;
  ASSERT_TRUE(b_->machine->memory().Write(0x123456, {&byte, 1}).ok());
  Verification v = Verify();
  ASSERT_EQ(v.differences.size(), 1u) << v.Describe();
  EXPECT_EQ(v.differences[0].kind, Difference::Kind::kPage);
  EXPECT_EQ(v.differences[0].gpa, 0x123000u);
}

TEST_F(VerifyTest, ThePositionIsNamed) {
  RunTo(*b_, 26);
  Verification v = Verify();
  ASSERT_EQ(v.differences.size(), 1u) << v.Describe();
  EXPECT_EQ(v.differences[0].kind, Difference::Kind::kPosition);
  EXPECT_EQ(v.differences[0].what, "esn");
}

// Before the first exit the UART is empty: an input only one replica gets
// shows as its device's state and, with a clock input, the clock.
TEST_F(CheckpointTest, DevicesAndTheClockAreNamed) {
  auto base = MemoryBase::Create(8 << 20).value();
  auto a = Boot(hv_, base);
  auto b = Boot(hv_, base);
  const std::vector<uint8_t> x = {'x'};
  ASSERT_TRUE(b->machine->ApplyInput(InputEvent::SerialRx(x)).ok());
  auto v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->differences.size(), 1u) << v->Describe();
  EXPECT_EQ(v->differences[0].kind, Difference::Kind::kDevice);
  EXPECT_EQ(v->differences[0].what, "uart0");

  // Time moves the clock and what runs on it (PIT, RTC).
  ASSERT_TRUE(b->machine->ApplyInput(InputEvent::ClockAdvance(5000)).ok());
  v = VerifyReplicas(*a->machine, *b->machine);
  ASSERT_TRUE(v.ok());
  ASSERT_FALSE(v->differences.empty());
  EXPECT_EQ(v->differences.back().kind, Difference::Kind::kClock);
  EXPECT_EQ(v->differences.back().b, "5000");
}

}  // namespace
}  // namespace xv
