// ReplaySession on real guests: recorded on every backend, debugged on the
// emulator (the only backend that counts instructions). The property that
// makes reverse execution correct is checked directly: a point reached
// going forward from boot, and the same point reached going back through
// snapshots, hold the same state.
#include "debug/replay_session.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "session/live_run.h"
#include "tests/runfiles.h"
#include "tests/test_backends.h"
#include "tests/test_files.h"

namespace xv {
namespace {

using ::testing::HasSubstr;
using ::xv::testing::GuestPath;
using ::xv::testing::TempPath;
using ::xv::testing::WriteBytes;
using Kind = SessionStop::Kind;

// Records kvstore with a short session on `backend`; returns the log path.
std::string RecordKvstore(const std::string& backend) {
  std::string log = TempPath("kvstore_" + backend + ".log");
  const std::string in = TempPath("kvstore_" + backend + ".in");
  WriteBytes(in, "SET x 10\nSET y 20\nGET x\nDEL y\nCOUNT\nQUIT\n");
  RunSettings settings;
  settings.kernel_path = GuestPath("kvstore");
  settings.memory_bytes = 16ull << 20;
  settings.timeout_seconds = 60;
  settings.rtc_epoch_seconds = 1'700'000'000;
  settings.serial.input = "file:" + in;
  settings.serial.output = "file:" + TempPath("kvstore_" + backend + ".out");
  settings.backend = backend;
  RecordRequest request{.log_path = log};
  auto outcome = RunGuestLive(settings, nullptr, true, &request);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return log;
}

absl::StatusOr<Hash128> StateAt(ReplaySession& s) {
  return s.machine().StateHash();
}

class ReplaySessionTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto emu = testing::OpenTestBackend("emu");
    ASSERT_TRUE(emu.ok()) << emu.status();
    emu_ = std::move(*emu);
  }
  std::unique_ptr<ReplaySession> Open(const std::string& log,
                                      SessionOptions options = {}) {
    auto s = ReplaySession::Open(*emu_, log, options);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::unique_ptr<Hypervisor> emu_;
};

TEST_P(ReplaySessionTest, APointHoldsTheSameStateGoingForwardAndBack) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(recorder, GetParam());
  const std::string log = RecordKvstore(GetParam());
  // Small intervals and few snapshots: going back must restore, re-execute
  // and thin.
  SessionOptions options{.snapshot_interval = 20'000, .max_snapshots = 6};
  auto forward = Open(log, options);
  ASSERT_NE(forward, nullptr);
  // The last point before exit 41, found by stepping from exit 40.
  auto stop = forward->SeekPosition({.esn = 40});
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_EQ(stop->kind, Kind::kReached);
  Position target = forward->position();
  EXPECT_EQ(target, (Position{.esn = 40}));
  while (forward->position().esn == 40) {
    target = forward->position();
    ASSERT_TRUE(forward->StepInstruction().ok());
  }
  ASSERT_GT(target.steps, 0u);
  ASSERT_TRUE(forward->SeekPosition(target).ok());
  EXPECT_EQ(forward->position(), target);
  auto direct = StateAt(*forward);
  ASSERT_TRUE(direct.ok()) << direct.status();
  const uint64_t t = forward->time();

  // Far ahead, then back to the same point.
  auto ahead = forward->SeekPosition({.esn = 120});
  ASSERT_TRUE(ahead.ok()) << ahead.status();
  EXPECT_GT(forward->time(), t);
  EXPECT_LE(forward->snapshot_count(), 6u);
  auto back = forward->SeekTime(t);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(forward->position(), target);
  auto again = StateAt(*forward);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->ToHex(), direct->ToHex());

  // One instruction back equals the point one instruction earlier reached
  // by a fresh session going forward.
  auto rstep = forward->ReverseStepInstruction();
  ASSERT_TRUE(rstep.ok()) << rstep.status();
  EXPECT_EQ(forward->time(), t - 1);
  auto stepped_back = StateAt(*forward);
  ASSERT_TRUE(stepped_back.ok());
  auto fresh = Open(log);
  ASSERT_NE(fresh, nullptr);
  ASSERT_TRUE(fresh->SeekTime(t - 1).ok());
  auto fresh_state = StateAt(*fresh);
  ASSERT_TRUE(fresh_state.ok());
  EXPECT_EQ(fresh_state->ToHex(), stepped_back->ToHex());
  EXPECT_NE(fresh_state->ToHex(), direct->ToHex());
  // And a step forward is the point again.
  ASSERT_TRUE(fresh->StepInstruction().ok());
  auto stepped = StateAt(*fresh);
  ASSERT_TRUE(stepped.ok());
  EXPECT_EQ(stepped->ToHex(), direct->ToHex());
}

TEST_P(ReplaySessionTest, ReverseStepsFarFromASnapshotAreExact) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(recorder, GetParam());
  const std::string log = RecordKvstore(GetParam());
  // Only the boot snapshot: going back re-executes from the boot, and
  // takes an extra snapshot just before the target on the way.
  const SessionOptions options{.snapshot_interval = uint64_t{1} << 40};
  auto s = Open(log, options);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->SeekPosition({.esn = 120}).ok());
  const uint64_t t = s->time();
  ASSERT_GT(t, 200'000u);
  EXPECT_EQ(s->snapshot_count(), 1u);
  // The states at t-3, t-2, t-1 going forward only.
  auto forward = Open(log, options);
  ASSERT_NE(forward, nullptr);
  ASSERT_TRUE(forward->SeekTime(t - 3).ok());
  std::vector<std::string> states;
  for (int i = 0; i < 3; ++i) {
    auto h = StateAt(*forward);
    ASSERT_TRUE(h.ok()) << h.status();
    states.push_back(h->ToHex());
    ASSERT_TRUE(forward->StepInstruction().ok());
  }
  EXPECT_EQ(forward->snapshot_count(), 1u);
  for (int i = 1; i <= 3; ++i) {
    auto stop = s->ReverseStepInstruction();
    ASSERT_TRUE(stop.ok()) << stop.status();
    EXPECT_EQ(s->time(), t - i);
    auto h = StateAt(*s);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_EQ(h->ToHex(), states[3 - i]) << "at t-" << i;
    // The first step back left a snapshot shortly before it.
    EXPECT_EQ(s->snapshot_count(), 2u);
  }
}

TEST_P(ReplaySessionTest, ContinueStopsAtBreakpointsAndReverseFindsTheLast) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(recorder, GetParam());
  const std::string log = RecordKvstore(GetParam());
  auto s = Open(log, {.snapshot_interval = 20'000});
  ASSERT_NE(s, nullptr);
  // An instruction the guest runs several times: the one after an exit in
  // its serial input loop.
  ASSERT_TRUE(s->SeekPosition({.esn = 60, .steps = 1}).ok());
  const uint64_t rip = s->machine().cpu().regs().rip;
  const uint64_t first_seen = s->time();
  ASSERT_TRUE(s->SeekTime(0).ok());
  s->set_breakpoints({rip});
  std::vector<uint64_t> hits;
  for (;;) {
    auto stop = s->Continue();
    ASSERT_TRUE(stop.ok()) << stop.status();
    if (stop->kind != Kind::kBreakpoint) {
      EXPECT_EQ(stop->kind, Kind::kEnd) << stop->message;
      break;
    }
    EXPECT_EQ(stop->address, rip);
    EXPECT_EQ(s->machine().cpu().regs().rip, rip);
    hits.push_back(s->time());
  }
  ASSERT_GE(hits.size(), 2u);
  // A breakpoint stops before its instruction begins: at the time of the
  // point where RIP is there.
  EXPECT_THAT(hits, ::testing::Contains(first_seen));
  // From the end, reverse-continue meets the hits in reverse order.
  for (size_t i = hits.size(); i-- > 0;) {
    auto stop = s->ReverseContinue();
    ASSERT_TRUE(stop.ok()) << stop.status();
    ASSERT_EQ(stop->kind, Kind::kBreakpoint) << i;
    EXPECT_EQ(s->time(), hits[i]);
    EXPECT_EQ(s->machine().cpu().regs().rip, rip);
  }
  auto start = s->ReverseContinue();
  ASSERT_TRUE(start.ok());
  EXPECT_EQ(start->kind, Kind::kHistoryStart);
  EXPECT_EQ(s->time(), 0u);
}

TEST_P(ReplaySessionTest, WatchpointsFireForwardAndBackward) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(recorder, GetParam());
  const std::string log = RecordKvstore(GetParam());
  auto s = Open(log, {.snapshot_interval = 20'000});
  ASSERT_NE(s, nullptr);
  // The stack slot below RSP at some point is written again and again.
  ASSERT_TRUE(s->SeekPosition({.esn = 60}).ok());
  const uint64_t slot = s->machine().cpu().regs().rsp - 8;
  const uint64_t mark = s->time();
  s->set_watchpoints({{.begin = slot, .end = slot + 8}});
  auto forward = s->Continue();
  ASSERT_TRUE(forward.ok()) << forward.status();
  ASSERT_EQ(forward->kind, Kind::kWatchpoint) << forward->message;
  EXPECT_GE(forward->address, slot);
  EXPECT_LT(forward->address, slot + 8);
  const uint64_t written_at = s->time();
  EXPECT_GT(written_at, mark);
  // Going back from further on finds that write (or a later one), stopped
  // before the writing instruction.
  ASSERT_TRUE(s->SeekTime(written_at + 50).ok());
  auto backward = s->ReverseContinue();
  ASSERT_TRUE(backward.ok()) << backward.status();
  ASSERT_EQ(backward->kind, Kind::kWatchpoint);
  EXPECT_GE(s->time(), written_at - 1);
  EXPECT_LT(s->time(), written_at + 50);
}

TEST_P(ReplaySessionTest, PositionsThatDoNotExistAreErrors) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(recorder, GetParam());
  const std::string log = RecordKvstore(GetParam());
  auto s = Open(log);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->recorded_end());
  auto past = s->SeekPosition({.esn = s->recorded_end()->esn + 10});
  EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(past.status().message(), HasSubstr("past the end"));
  // Between two exits there are only so many instructions.
  auto too_far = s->SeekPosition({.esn = 5, .steps = 100'000'000});
  EXPECT_EQ(too_far.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(too_far.status().message(), HasSubstr("does not exist"));
  // The session is still usable.
  auto ok = s->SeekPosition({.esn = 3});
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(s->position(), (Position{.esn = 3}));
}

TEST_P(ReplaySessionTest, TheLastExitIsAPositionHoldingTheFinalState) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(recorder, GetParam());
  const std::string log = RecordKvstore(GetParam());
  auto s = Open(log);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->recorded_end());
  ASSERT_TRUE(s->recorded_end()->final_state_hash);
  const Position last{.esn = s->recorded_end()->esn};
  // The guest stopped there (debug-exit): no rendezvous, but a position.
  auto stop = s->SeekPosition(last);
  ASSERT_TRUE(stop.ok()) << stop.status();
  EXPECT_EQ(s->position(), last);
  auto hash = StateAt(*s);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_EQ(*hash, *s->recorded_end()->final_state_hash);
  // Reached again after going back, and nothing lies past it.
  ASSERT_TRUE(s->SeekPosition({.esn = 3}).ok());
  ASSERT_TRUE(s->SeekPosition(last).ok());
  EXPECT_EQ(s->position(), last);
  auto past = s->SeekPosition({.esn = last.esn, .steps = 1});
  EXPECT_EQ(past.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ReplaySessionKvmTest, KvmCannotDebugAtInstructionLevel) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(kvm, std::string("kvm"));
  const std::string log = RecordKvstore("kvm");
  auto s = ReplaySession::Open(*kvm, log);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("--backend emu"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplaySessionTest,
                         ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace xv
