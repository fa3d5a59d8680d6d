// CheckEnd on two machines of the scripted fake backend that ran a guest to
// its end: alike (no trigger, the final state hash set), at different exits,
// in different states, and with outputs left unmatched in the gate (an
// end_mismatch, the hash cleared); a run cut short by its time limit.
#include "replica/run_end.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "devices/output_sink.h"
#include "devices/test_sinks.h"
#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/fake_guests.h"
#include "replica/output_gate.h"

namespace xv::replica_internal {
namespace {

// The guest prints "hi" (ESNs 1, 2) and exits 0 (ESN 3).
constexpr uint64_t kEndEsn = 3;

struct Ended {
  RecordingOutputSink out;
  std::unique_ptr<Machine> machine;
  RunResult result;
};

// Boots the guest and runs it to its end, or to the first rendezvous at or
// after `stop_at`.
std::unique_ptr<Ended> RunGuest(
    const Hypervisor& hv, std::optional<uint64_t> stop_at = std::nullopt) {
  auto e = std::make_unique<Ended>();
  MachineConfig config;
  config.memory_bytes = 8 << 20;
  auto m = Machine::Create(hv, config, &e->out);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return nullptr;
  e->machine = std::move(*m);
  EXPECT_TRUE(
      e->machine->BootMultiboot(testing::FakeKernelImage(), "hello", {}).ok());
  ScriptedInputs inputs(10'000);
  StopAtEsn stop(stop_at.value_or(UINT64_MAX));
  auto r = RunMachine(*e->machine, inputs,
                      {.timeout_seconds = 60, .observer = &stop});
  EXPECT_TRUE(r.ok()) << r.status();
  if (r.ok()) e->result = *r;
  return e;
}

class CheckEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    leader_ = RunGuest(hv_);
    ASSERT_NE(leader_, nullptr);
    ASSERT_EQ(leader_->result.reason, StopReason::kDebugExit);
    ASSERT_EQ(leader_->machine->esn(), kEndEsn);
  }

  std::optional<Trigger> CheckEndOrDie(Machine& follower,
                                       const RunResult& result) {
    auto t = CheckEnd(*leader_->machine, follower, result, gate_, hash_);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : std::nullopt;
  }

  FakeHypervisor hv_{testing::FakeHello("hi")};
  std::unique_ptr<Ended> leader_;
  RecordingOutputSink released_;
  OutputGate gate_{&released_};
  std::optional<Hash128> hash_;
};

TEST_F(CheckEndTest, ReplicasThatEndedAlikeAreNoTriggerAndSetTheStateHash) {
  auto follower = RunGuest(hv_);
  ASSERT_NE(follower, nullptr);
  EXPECT_EQ(CheckEndOrDie(*follower->machine, leader_->result), std::nullopt);
  auto want = leader_->machine->StateHash();
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_EQ(hash_, *want);
}

TEST_F(CheckEndTest, EndingAtDifferentExitsIsAnEndMismatch) {
  auto follower = RunGuest(hv_, /*stop_at=*/2);
  ASSERT_NE(follower, nullptr);
  ASSERT_EQ(follower->machine->esn(), 2u);
  std::optional<Trigger> t = CheckEndOrDie(*follower->machine, leader_->result);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->kind, DivergenceTrigger::kEnd);
  EXPECT_EQ(t->esn, kEndEsn);
  EXPECT_EQ(t->culprit, std::nullopt);
  EXPECT_NE(t->detail.find("ESN 2"), std::string::npos) << t->detail;
  EXPECT_EQ(hash_, std::nullopt);
}

TEST_F(CheckEndTest, EndingInDifferentStatesIsAnEndMismatch) {
  auto follower = RunGuest(hv_);
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->machine->cpu()
                  .ModifyRegs([](GeneralRegisters& r) { r.r9 ^= 4; })
                  .ok());
  std::optional<Trigger> t = CheckEndOrDie(*follower->machine, leader_->result);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->kind, DivergenceTrigger::kEnd);
  EXPECT_EQ(t->esn, kEndEsn);
  EXPECT_NE(t->detail.find("final state mismatch"), std::string::npos)
      << t->detail;
  EXPECT_NE(t->detail.find("r9"), std::string::npos) << t->detail;
  EXPECT_EQ(hash_, std::nullopt);
}

TEST_F(CheckEndTest, OutputsLeftUnmatchedInTheGateAreAnEndMismatchAndNoHash) {
  for (int slot : {0, 1}) {
    SCOPED_TRACE(slot);
    auto follower = RunGuest(hv_);
    ASSERT_NE(follower, nullptr);
    OutputGate gate(&released_);
    const uint8_t byte = '!';
    ASSERT_TRUE(gate.Submit(slot, kEndEsn,
                            {.kind = OutputKind::kSerialTx,
                             .device = "uart0",
                             .data = {&byte, 1}})
                    .ok());
    hash_.reset();
    auto t = CheckEnd(*leader_->machine, *follower->machine, leader_->result,
                      gate, hash_);
    ASSERT_TRUE(t.ok()) << t.status();
    ASSERT_TRUE(t->has_value());
    EXPECT_EQ((*t)->kind, DivergenceTrigger::kEnd);
    EXPECT_EQ((*t)->esn, kEndEsn);
    EXPECT_NE((*t)->detail.find("unmatched"), std::string::npos)
        << (*t)->detail;
    // The states matched, but a run with an output left over has none.
    EXPECT_EQ(hash_, std::nullopt);
  }
}

TEST_F(CheckEndTest, ARunCutShortByItsTimeLimitProvesNothing) {
  auto follower = RunGuest(hv_, /*stop_at=*/2);
  ASSERT_NE(follower, nullptr);
  RunResult timed_out = leader_->result;
  timed_out.reason = StopReason::kTimeout;
  EXPECT_EQ(CheckEndOrDie(*follower->machine, timed_out), std::nullopt);
  EXPECT_EQ(hash_, std::nullopt);
}

TEST_F(CheckEndTest, StatesCaughtBetweenExitsAreNotCompared) {
  auto follower = RunGuest(hv_);
  ASSERT_NE(follower, nullptr);
  ASSERT_TRUE(follower->machine->cpu()
                  .ModifyRegs([](GeneralRegisters& r) { r.r9 ^= 4; })
                  .ok());
  RunResult interrupted = leader_->result;
  interrupted.reason = StopReason::kInterrupted;
  interrupted.stopped_at_exit_boundary = false;
  EXPECT_EQ(CheckEndOrDie(*follower->machine, interrupted), std::nullopt);
  EXPECT_EQ(hash_, std::nullopt);
}

}  // namespace
}  // namespace xv::replica_internal
