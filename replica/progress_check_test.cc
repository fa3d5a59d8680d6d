// CheckProgress, the manager's checks while an epoch runs: a follower that
// ended where the leader did not (at once when the leader went past that
// exit, a hang only after the timeout otherwise), a replica behind the other
// without progress, a leader the follower waits for; never a wait for inputs.
//
// CheckProgress reads the host clock itself (absl::Now()), and so do the
// follower's end (EpochState::FollowerEnded) and its wait in the log
// (RetainedLog::Take). The HangDetector's times are the test's: set an hour
// back for "long ago". The follower's end and wait start at the real time:
// the cases that need them older than a timeout use a short timeout and
// wait until it passed.
#include "replica/progress_check.h"

#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "replica/epoch_state.h"
#include "replica/hang_detector.h"
#include "replica/replica.h"
#include "replica/retained_log.h"

namespace xv::replica_internal {
namespace {

// Long enough never to pass while a test runs, however busy the machine.
constexpr double kLongTimeoutSeconds = 3600;
constexpr absl::Duration kShortTimeout = absl::Milliseconds(50);

// Sleeps until more than `timeout` has passed since `since`.
void WaitPast(absl::Time since, absl::Duration timeout) {
  while (absl::Now() - since <= timeout) absl::SleepFor(absl::Milliseconds(5));
}

class ProgressCheckTest : public ::testing::Test {
 protected:
  ProgressCheckTest()
      : reader_(log_.AddReader(log_.Begin())),
        epoch_(&log_, [](uint64_t) { return std::optional<Trigger>(); }) {}

  std::optional<Trigger> Check(const HangDetector& hangs,
                               double end_timeout_seconds) {
    return CheckProgress(epoch_, hangs, log_, reader_, end_timeout_seconds);
  }

  // When the follower's end was noted.
  absl::Time FollowerEndTime() {
    absl::Time when;
    EXPECT_TRUE(epoch_.follower_end(&when).has_value());
    return when;
  }

  const absl::Time long_ago_ = absl::Now() - absl::Hours(1);
  RetainedLog log_{16};
  const int reader_;
  EpochState epoch_;
};

TEST_F(ProgressCheckTest, FollowerEndedWhereTheLeaderWentPastIsAnEndMismatch) {
  HangDetector hangs(absl::Seconds(kLongTimeoutSeconds));
  hangs.Reset(0, 0, absl::Now());
  hangs.Reached(kFollower, 30, absl::Now());
  hangs.Reached(kLeader, 31, absl::Now());
  epoch_.FollowerEnded(30);
  // At once: no timeout has to pass.
  std::optional<Trigger> t = Check(hangs, kLongTimeoutSeconds);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->kind, DivergenceTrigger::kEnd);
  EXPECT_EQ(t->esn, 30u);
  EXPECT_EQ(t->culprit, std::nullopt);
  EXPECT_NE(t->detail.find("ESN 31"), std::string::npos) << t->detail;
}

TEST_F(ProgressCheckTest, FollowerEndedBeforeTheLeaderGotThereWaitsForIt) {
  HangDetector hangs(absl::Seconds(kLongTimeoutSeconds));
  hangs.Reset(0, 0, absl::Now());
  hangs.Reached(kLeader, 29, absl::Now());
  hangs.Reached(kFollower, 29, absl::Now());
  epoch_.FollowerEnded(30);
  EXPECT_EQ(Check(hangs, kLongTimeoutSeconds), std::nullopt);
  // At the follower's exit, not past it: still waiting.
  hangs.Reached(kLeader, 30, absl::Now());
  EXPECT_EQ(Check(hangs, kLongTimeoutSeconds), std::nullopt);
}

TEST_F(ProgressCheckTest,
       FollowerEndedAndTheLeaderNotThereAfterTheTimeoutIsHung) {
  HangDetector hangs(absl::Seconds(kLongTimeoutSeconds));
  hangs.Reset(0, 0, absl::Now());
  hangs.Reached(kLeader, 29, absl::Now());
  epoch_.FollowerEnded(30);
  WaitPast(FollowerEndTime(), kShortTimeout);
  std::optional<Trigger> t = Check(hangs, absl::ToDoubleSeconds(kShortTimeout));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->kind, DivergenceTrigger::kHang);
  EXPECT_EQ(t->esn, 29u);
  EXPECT_EQ(t->culprit, kLeader);
}

TEST_F(ProgressCheckTest, OnceTheLeaderEndedTooTheEndsAreNotCheckedHere) {
  // Where both runs ended is CheckEnd's to compare, after the epoch.
  HangDetector hangs(absl::Seconds(kLongTimeoutSeconds));
  hangs.Reset(0, 0, absl::Now());
  hangs.Reached(kFollower, 30, absl::Now());
  hangs.Reached(kLeader, 31, absl::Now());
  epoch_.FollowerEnded(30);
  epoch_.LeaderEnded(31);
  EXPECT_EQ(Check(hangs, kLongTimeoutSeconds), std::nullopt);
}

TEST_F(ProgressCheckTest, AReplicaBehindWithoutProgressPastTheTimeoutIsHung) {
  HangDetector hangs(absl::Seconds(60));
  hangs.Reset(0, 0, long_ago_);
  hangs.Reached(kFollower, 10, long_ago_);
  hangs.Reached(kLeader, 11, long_ago_ + absl::Seconds(1));
  std::optional<Trigger> t = Check(hangs, kLongTimeoutSeconds);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->kind, DivergenceTrigger::kHang);
  EXPECT_EQ(t->esn, 10u);
  EXPECT_EQ(t->culprit, kFollower);
}

TEST_F(ProgressCheckTest, NothingTriggersWhileBothMakeProgress) {
  // The follower has been behind for an hour, but its last exit is recent;
  // the leader is not behind at all.
  HangDetector hangs(absl::Seconds(60));
  hangs.Reset(0, 0, long_ago_);
  hangs.Reached(kLeader, 1000, long_ago_);
  for (uint64_t esn = 1; esn < 10; ++esn) {
    hangs.Reached(kFollower, esn, absl::Now());
    EXPECT_EQ(Check(hangs, kLongTimeoutSeconds), std::nullopt) << esn;
    hangs.Reached(kLeader, 1000 + esn, absl::Now());
    EXPECT_EQ(Check(hangs, kLongTimeoutSeconds), std::nullopt) << esn;
  }
}

// The follower waits in the log for the leader to finish exit 7 (on its
// own thread) until the test ends.
class FollowerWaitsTest : public ProgressCheckTest {
 protected:
  void SetUp() override {
    follower_ = std::thread([this] {
      std::vector<InputEvent> inputs;
      taken_ = log_.Take(reader_, 7, inputs);
    });
    while (!log_.waiting_for_leader(reader_, &since_)) {
      absl::SleepFor(absl::Milliseconds(1));
    }
  }
  void TearDown() override {
    log_.Abort();
    follower_.join();
    EXPECT_TRUE(absl::IsAborted(taken_)) << taken_;
  }

  std::thread follower_;
  absl::Status taken_;
  absl::Time since_;
};

TEST_F(FollowerWaitsTest, ALeaderTheFollowerWaitsForPastTheTimeoutIsHung) {
  WaitPast(since_, kShortTimeout);
  HangDetector patient(absl::Seconds(kLongTimeoutSeconds));
  patient.Reset(7, 7, long_ago_);
  EXPECT_EQ(Check(patient, kLongTimeoutSeconds), std::nullopt);
  HangDetector hangs(kShortTimeout);
  hangs.Reset(7, 7, long_ago_);
  std::optional<Trigger> t = Check(hangs, kLongTimeoutSeconds);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->kind, DivergenceTrigger::kHang);
  EXPECT_EQ(t->esn, 7u);
  EXPECT_EQ(t->culprit, kLeader);
}

TEST_F(FollowerWaitsTest, ALeaderWaitingForInputsIsNeverHung) {
  HangDetector hangs(kShortTimeout);
  hangs.Reset(7, 7, long_ago_);
  hangs.LeaderIdle(true, long_ago_);
  WaitPast(since_, 4 * kShortTimeout);
  EXPECT_EQ(Check(hangs, kLongTimeoutSeconds), std::nullopt);
}

}  // namespace
}  // namespace xv::replica_internal
