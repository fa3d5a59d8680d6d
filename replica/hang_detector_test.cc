#include "replica/hang_detector.h"

#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr int kLeader = HangDetector::kLeader;
constexpr int kFollower = HangDetector::kFollower;
const absl::Time t0 = absl::FromUnixSeconds(1000);
absl::Time At(double s) { return t0 + absl::Seconds(s); }

TEST(HangDetectorTest, AFollowerLeftBehindWithoutProgressIsHung) {
  HangDetector d(absl::Seconds(2));
  d.Reset(0, 0, t0);
  d.Reached(kFollower, 10, At(0.5));
  d.Reached(kLeader, 11, At(0.6));
  EXPECT_FALSE(d.Check(At(2.5), std::nullopt));
  std::optional<Hang> h = d.Check(At(2.7), std::nullopt);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->role, kFollower);
  EXPECT_EQ(h->esn, 10u);
  EXPECT_EQ(h->other_esn, 11u);
}

// A stretch without exits that took the leader 5 s may take the follower
// up to 3 x 5 s (a slow backend, a loaded host) before it counts as hung.
TEST(HangDetectorTest, TheTimeoutGrowsWithWhatTheOtherNeededForTheStretch) {
  HangDetector d(absl::Seconds(2));
  d.Reset(0, 0, t0);
  d.Reached(kLeader, 10, At(1));
  d.Reached(kFollower, 10, At(1.5));
  d.Reached(kLeader, 11, At(6));  // 5 s of computing
  d.Reached(kLeader, 12, At(6.1));
  EXPECT_FALSE(d.Check(At(20), std::nullopt));
  std::optional<Hang> h = d.Check(At(21.5), std::nullopt);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->role, kFollower);
  EXPECT_EQ(h->esn, 10u);
}

TEST(HangDetectorTest, ProgressWhileBehindIsNotAHang) {
  HangDetector d(absl::Seconds(2));
  d.Reset(0, 0, t0);
  d.Reached(kLeader, 100, At(0.1));
  for (int i = 1; i < 10; ++i) d.Reached(kFollower, i, At(i));
  EXPECT_FALSE(d.Check(At(10.5), std::nullopt));
}

TEST(HangDetectorTest, TimeSpentWaitingBeforeFallingBehindDoesNotCount) {
  // Both idle at exit 10 for a minute; the leader gets input and moves on.
  HangDetector d(absl::Seconds(2));
  d.Reset(0, 0, t0);
  d.Reached(kLeader, 10, At(0));
  d.Reached(kFollower, 10, At(0));
  d.LeaderIdle(true, At(0.1));
  d.LeaderIdle(false, At(59.9));
  d.Reached(kLeader, 11, At(60));
  EXPECT_FALSE(d.Check(At(61), std::nullopt));
  EXPECT_TRUE(d.Check(At(62.5), std::nullopt));
}

TEST(HangDetectorTest, ALeaderTheFollowerWaitsForIsHungUnlessIdle) {
  HangDetector d(absl::Seconds(2));
  d.Reset(0, 0, t0);
  d.Reached(kLeader, 5, At(0));
  d.Reached(kFollower, 5, At(0.1));
  EXPECT_FALSE(d.Check(At(2.0), At(0.1)));
  std::optional<Hang> h = d.Check(At(2.2), At(0.1));
  ASSERT_TRUE(h);
  EXPECT_EQ(h->role, kLeader);
  // Waiting for its back-ends is not a hang, however long.
  d.LeaderIdle(true, At(0.2));
  EXPECT_FALSE(d.Check(At(100), At(0.1)));
  // Once it stops waiting, the clock starts again.
  d.LeaderIdle(false, At(100));
  EXPECT_FALSE(d.Check(At(101), At(0.1)));
  EXPECT_TRUE(d.Check(At(102.5), At(0.1)));
}

TEST(HangDetectorTest, CatchingUpClearsIt) {
  HangDetector d(absl::Seconds(2));
  d.Reset(0, 0, t0);
  d.Reached(kLeader, 3, At(0));
  d.Reached(kFollower, 3, At(1.9));
  EXPECT_FALSE(d.Check(At(5), std::nullopt));
}

}  // namespace
}  // namespace xv
