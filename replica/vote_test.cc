// The vote after a divergence: PlanVote per trigger (where the third replica
// C stops, which outputs and whether states are compared: the table in
// replica/README.md), Vote on replicas of the scripted fake backend (who is
// a candidate, what is compared), Survivor for every combination of
// agreement.
#include "replica/vote.h"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/fake_guests.h"
#include "replica/replica.h"
#include "replica/vote_replay.h"

namespace xv::replica_internal {
namespace {

// A VotePlan as one comparable, printable value.
struct Plan {
  std::optional<uint64_t> before_inputs_of;
  std::optional<uint64_t> before_checkpoint_at;
  std::optional<uint64_t> stop_at;
  uint64_t through = 0;
  bool compare_states = false;

  friend bool operator==(const Plan&, const Plan&) = default;
};

void PrintTo(const Plan& p, std::ostream* os) {
  auto opt = [](const std::optional<uint64_t>& v) {
    return v ? std::to_string(*v) : std::string("-");
  };
  *os << "{before_inputs_of " << opt(p.before_inputs_of)
      << ", before_checkpoint_at " << opt(p.before_checkpoint_at)
      << ", stop_at " << opt(p.stop_at) << ", through " << p.through
      << ", compare_states " << p.compare_states << "}";
}

Plan Flat(const VotePlan& v) {
  return {.before_inputs_of = v.point.before_inputs_of,
          .before_checkpoint_at = v.point.before_checkpoint_at,
          .stop_at = v.point.stop_at,
          .through = v.through,
          .compare_states = v.compare_states};
}

// `leader`, `follower`: the exit where each role was stopped.
Plan PlanFor(DivergenceTrigger kind, uint64_t esn, uint64_t leader,
             uint64_t follower,
             std::optional<uint64_t> pending_checkpoint = std::nullopt,
             std::optional<int> culprit = std::nullopt) {
  return Flat(PlanVote({.kind = kind, .esn = esn, .culprit = culprit},
                       {leader, follower}, pending_checkpoint));
}

using enum DivergenceTrigger;

TEST(PlanVoteTest,
     CheckpointMismatchStopsBeforeThatCheckpointAndComparesStates) {
  EXPECT_EQ(PlanFor(kCheckpoint, 60, 60, 60), (Plan{.before_checkpoint_at = 60,
                                                    .through = 60,
                                                    .compare_states = true}));
}

TEST(PlanVoteTest, CheckpointMismatchAtThePendingCheckpointStopsBeforeIt) {
  // The checkpoint that failed is the one marked after the last verified
  // one: it is still pending.
  EXPECT_EQ(
      PlanFor(kCheckpoint, 60, 60, 60, /*pending_checkpoint=*/60),
      (Plan{
          .before_checkpoint_at = 60, .through = 60, .compare_states = true}));
}

TEST(PlanVoteTest, CheckpointMismatchIsNotMovedLaterByALaterPendingCheckpoint) {
  EXPECT_EQ(
      PlanFor(kCheckpoint, 60, 60, 60, /*pending_checkpoint=*/80),
      (Plan{
          .before_checkpoint_at = 60, .through = 60, .compare_states = true}));
}

TEST(PlanVoteTest, OutputMismatchStopsBeforeTheInputsOfTheLowerExit) {
  // The outputs diverged at 35; the replicas ran on before they stopped.
  const Plan want = {.before_inputs_of = 37, .through = 37};
  EXPECT_EQ(PlanFor(kOutput, 35, /*leader=*/40, /*follower=*/37), want);
  EXPECT_EQ(PlanFor(kOutput, 35, /*leader=*/37, /*follower=*/40), want);
}

TEST(PlanVoteTest, OutputMismatchKeepsCBeforeAPendingCheckpoint) {
  // The leader waits at the checkpoint it marked at 40 for the follower.
  EXPECT_EQ(
      PlanFor(kOutput, 35, 40, 37, /*pending_checkpoint=*/40),
      (Plan{
          .before_inputs_of = 37, .before_checkpoint_at = 40, .through = 37}));
}

TEST(PlanVoteTest, CrashOfEitherRoleStopsBeforeTheInputsOfTheLowerExit) {
  for (int culprit : {kLeader, kFollower}) {
    SCOPED_TRACE(RoleName(culprit));
    const Plan want = {.before_inputs_of = 22, .through = 22};
    EXPECT_EQ(PlanFor(kCrash, 22, 25, 22, std::nullopt, culprit), want);
    EXPECT_EQ(PlanFor(kCrash, 22, 22, 25, std::nullopt, culprit), want);
    EXPECT_EQ(PlanFor(kCrash, 22, 25, 22, /*pending_checkpoint=*/25, culprit),
              (Plan{.before_inputs_of = 22,
                    .before_checkpoint_at = 25,
                    .through = 22}));
  }
}

TEST(PlanVoteTest, HangOfEitherRoleStopsBeforeTheInputsOfTheLowerExit) {
  for (int culprit : {kLeader, kFollower}) {
    SCOPED_TRACE(RoleName(culprit));
    const Plan want = {.before_inputs_of = 9, .through = 9};
    EXPECT_EQ(PlanFor(kHang, 9, 9, 14, std::nullopt, culprit), want);
    EXPECT_EQ(PlanFor(kHang, 14, 14, 9, std::nullopt, culprit), want);
    EXPECT_EQ(
        PlanFor(kHang, 9, 14, 9, /*pending_checkpoint=*/14, culprit),
        (Plan{
            .before_inputs_of = 9, .before_checkpoint_at = 14, .through = 9}));
  }
}

TEST(PlanVoteTest, EndStopsWhereTheLeaderEndedAndComparesEverything) {
  EXPECT_EQ(
      PlanFor(kEnd, 48, /*leader=*/50, /*follower=*/48),
      (Plan{.stop_at = 50, .through = UINT64_MAX, .compare_states = true}));
}

TEST(PlanVoteTest, EndStopsNoEarlierThanAFollowerThatRanAnExitPastIt) {
  // The follower runs on to its next exit before it learns of the end.
  EXPECT_EQ(
      PlanFor(kEnd, 50, /*leader=*/50, /*follower=*/51),
      (Plan{.stop_at = 51, .through = UINT64_MAX, .compare_states = true}));
}

TEST(PlanVoteTest, EndKeepsCBeforeAPendingCheckpoint) {
  EXPECT_EQ(PlanFor(kEnd, 48, 50, 48, /*pending_checkpoint=*/49),
            (Plan{.before_checkpoint_at = 49,
                  .stop_at = 50,
                  .through = UINT64_MAX,
                  .compare_states = true}));
}

TEST(PlanVoteTest, LogMismatchStopsBeforeTheInputsOfTheExitAfter) {
  // Where the replicas stopped does not matter: the trigger's exit does.
  const Plan want = {.before_inputs_of = 21, .through = 20};
  EXPECT_EQ(PlanFor(kLog, 20, /*leader=*/23, /*follower=*/20), want);
  EXPECT_EQ(PlanFor(kLog, 20, /*leader=*/20, /*follower=*/20), want);
}

TEST(PlanVoteTest, LogMismatchKeepsCBeforeAPendingCheckpoint) {
  EXPECT_EQ(
      PlanFor(kLog, 20, 20, 20, /*pending_checkpoint=*/20),
      (Plan{
          .before_inputs_of = 21, .before_checkpoint_at = 20, .through = 20}));
}

// Three replicas of a guest that prints "abc" (ESNs 1-3) and exits (ESN 4),
// or "abd": its third output differs, its state does not.
class VoteTest : public ::testing::Test {
 protected:
  // A replica booted on `hv`, run to the first rendezvous at or after
  // `esn` (nullopt: to its end, which it keeps as `ended`).
  static std::unique_ptr<Replica> Run(const Hypervisor& hv,
                                      std::optional<uint64_t> esn) {
    auto r = std::make_unique<Replica>();
    r->sink = std::make_unique<ReplicaSink>(/*gate=*/nullptr);
    MachineConfig config;
    config.memory_bytes = 8 << 20;
    auto m = Machine::Create(hv, config, r->sink.get());
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return nullptr;
    r->machine = std::move(*m);
    r->sink->set_machine(r->machine.get());
    auto k = r->machine->BootMultiboot(testing::FakeKernelImage(), "hello", {});
    EXPECT_TRUE(k.ok()) << k.status();
    ScriptedInputs inputs(10'000);
    StopAtEsn stop(esn.value_or(UINT64_MAX));
    auto result = RunMachine(*r->machine, inputs,
                             {.timeout_seconds = 60, .observer = &stop});
    EXPECT_TRUE(result.ok()) << result.status();
    if (result.ok() && !esn) r->ended = *result;
    return r;
  }

  static void FlipR9(Replica& r) {
    ASSERT_TRUE(r.machine->cpu()
                    .ModifyRegs([](GeneralRegisters& regs) { regs.r9 ^= 4; })
                    .ok());
  }

  std::array<bool, 2> VoteOrDie(const Trigger& trigger, const VotePlan& plan,
                                Replica& c, const VoteReplay& replay) {
    auto agrees = Vote(trigger, plan, c, replay, pair_);
    EXPECT_TRUE(agrees.ok()) << agrees.status();
    return agrees.ok() ? *agrees : std::array<bool, 2>{true, true};
  }

  FakeHypervisor abc_{testing::FakeHello("abc")};
  FakeHypervisor abd_{testing::FakeHello("abd")};
  ReplicaPair pair_;
};

using Agrees = std::array<bool, 2>;  // by role

TEST_F(VoteTest, OutputVoteNamesTheReplicaWhoseOutputsCReproduces) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abd_, 3);
  const Trigger t = {.kind = kOutput, .esn = 3};
  const VotePlan plan = PlanVote(t, {3, 3}, std::nullopt);
  auto c_abc = Run(abc_, 3);
  auto c_abd = Run(abd_, 3);
  EXPECT_EQ(VoteOrDie(t, plan, *c_abc, {.at_point = true}),
            (Agrees{true, false}));
  EXPECT_EQ(VoteOrDie(t, plan, *c_abd, {.at_point = true}),
            (Agrees{false, true}));
}

TEST_F(VoteTest, OutputsAfterThePlansExitAreNotCompared) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abd_, 3);
  auto c = Run(abc_, 2);
  const VotePlan plan = {.point = {.before_inputs_of = 2}, .through = 2};
  EXPECT_EQ(
      VoteOrDie({.kind = kOutput, .esn = 3}, plan, *c, {.at_point = true}),
      (Agrees{true, true}));
}

TEST_F(VoteTest, TheReplicaATriggerBlamesIsNoCandidate) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  auto c = Run(abc_, 3);
  const VoteReplay at_point = {.at_point = true};
  for (DivergenceTrigger kind : {kOutput, kCrash, kHang}) {
    SCOPED_TRACE(DivergenceTriggerName(kind));
    const Trigger none = {.kind = kind, .esn = 3};
    const VotePlan plan = PlanVote(none, {3, 3}, std::nullopt);
    EXPECT_EQ(VoteOrDie(none, plan, *c, at_point), (Agrees{true, true}));
    EXPECT_EQ(VoteOrDie({.kind = kind, .esn = 3, .culprit = kLeader}, plan, *c,
                        at_point),
              (Agrees{false, true}));
    EXPECT_EQ(VoteOrDie({.kind = kind, .esn = 3, .culprit = kFollower}, plan,
                        *c, at_point),
              (Agrees{true, false}));
  }
}

TEST_F(VoteTest, AReplicaThatFailedIsNoCandidate) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  auto c = Run(abc_, 3);
  const Trigger t = {.kind = kOutput, .esn = 3};
  const VotePlan plan = PlanVote(t, {3, 3}, std::nullopt);
  pair_.leader->failed = true;
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{false, true}));
  pair_.leader->failed = false;
  pair_.follower->failed = true;
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{true, false}));
}

TEST_F(VoteTest, CheckpointVoteComparesStatesOutputVoteDoesNot) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  FlipR9(*pair_.follower);
  auto c = Run(abc_, 3);
  const Trigger checkpoint = {.kind = kCheckpoint, .esn = 3};
  EXPECT_EQ(VoteOrDie(checkpoint, PlanVote(checkpoint, {3, 3}, 3), *c,
                      {.at_point = true}),
            (Agrees{true, false}));
  const Trigger output = {.kind = kOutput, .esn = 3};
  EXPECT_EQ(VoteOrDie(output, PlanVote(output, {3, 3}, std::nullopt), *c,
                      {.at_point = true}),
            (Agrees{true, true}));
}

TEST_F(VoteTest, EndVoteNeedsTheReplicaAtCsExit) {
  pair_.leader = Run(abc_, std::nullopt);  // ended at 4
  pair_.follower = Run(abc_, 3);           // stopped short of it
  ASSERT_EQ(pair_.leader->machine->esn(), 4u);
  auto c = Run(abc_, std::nullopt);
  const Trigger t = {.kind = kEnd, .esn = 3};
  const VotePlan plan = PlanVote(t, {4, 3}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.ended = c->ended}), (Agrees{true, false}));
}

TEST_F(VoteTest, EndVoteNeedsAReplicaThatEndedAsCDid) {
  // All three at exit 3; the leader's run ended there on its own, C's and
  // the follower's were stopped there.
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  pair_.leader->ended =
      RunResult{.reason = StopReason::kHaltedForever, .esn = 3};
  auto c = Run(abc_, 3);
  const Trigger t = {.kind = kEnd, .esn = 3};
  const VotePlan plan = PlanVote(t, {3, 3}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{false, true}));
}

TEST_F(VoteTest, EndVoteComparesStates) {
  pair_.leader = Run(abc_, std::nullopt);
  pair_.follower = Run(abc_, std::nullopt);
  FlipR9(*pair_.leader);
  auto c = Run(abc_, std::nullopt);
  const Trigger t = {.kind = kEnd, .esn = 4};
  const VotePlan plan = PlanVote(t, {4, 4}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.ended = c->ended}), (Agrees{false, true}));
}

TEST_F(VoteTest, EndVoteComparesTheOutputsOfALeaderStoppedInFlight) {
  // The follower ended early (exit 2); the leader went on and was stopped
  // wherever it was (its state, here a flipped r9, need not be C's at the
  // rendezvous C stopped at); C went on to the leader's exit too.
  pair_.leader = Run(abc_, 3);
  FlipR9(*pair_.leader);
  pair_.follower = Run(abc_, 2);
  pair_.follower->ended =
      RunResult{.reason = StopReason::kHaltedForever, .esn = 2};
  auto c = Run(abc_, 3);
  const Trigger t = {.kind = kEnd, .esn = 2};
  const VotePlan plan = PlanVote(t, {3, 2}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{true, false}));
  // Outputs still decide: a leader whose outputs are not C's is not kept.
  pair_.leader = Run(abd_, 3);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{false, false}));
}

TEST_F(VoteTest, LogVoteWhereCCannotFollowEitherComparesItWithTheFollower) {
  // C halted where the follower did, with no input to wake it: the
  // leader's log is wrong, if the follower's state is C's.
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  auto c = Run(abc_, 3);
  const Trigger t = {.kind = kLog, .esn = 3};
  const VotePlan plan = PlanVote(t, {3, 3}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.starved = true}), (Agrees{false, true}));
  FlipR9(*pair_.follower);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.starved = true}), (Agrees{false, false}));
}

TEST_F(VoteTest, LogVoteWhereCStarvedElsewhereAgreesWithNobody) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  auto c = Run(abc_, 2);
  const Trigger t = {.kind = kLog, .esn = 3};
  const VotePlan plan = PlanVote(t, {3, 3}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.starved = true}), (Agrees{false, false}));
}

TEST_F(VoteTest, LogVoteWhereCFollowedTheLogComparesTheLeadersOutputs) {
  pair_.leader = Run(abc_, 3);
  pair_.follower = Run(abc_, 3);
  FlipR9(*pair_.leader);  // states are not compared
  auto c = Run(abc_, 3);
  const Trigger t = {.kind = kLog, .esn = 3};
  const VotePlan plan = PlanVote(t, {3, 3}, std::nullopt);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{true, false}));
  pair_.leader = Run(abd_, 3);
  EXPECT_EQ(VoteOrDie(t, plan, *c, {.at_point = true}), (Agrees{false, false}));
}

TEST(SurvivorTest, TheOneReplicaThatAgreesWithCSurvives) {
  EXPECT_EQ(Survivor({true, false}), kLeader);
  EXPECT_EQ(Survivor({false, true}), kFollower);
}

TEST(SurvivorTest, NobodySurvivesWhenBothOrNeitherAgree) {
  EXPECT_EQ(Survivor({false, false}), std::nullopt);
  EXPECT_EQ(Survivor({true, true}), std::nullopt);
}

}  // namespace
}  // namespace xv::replica_internal
