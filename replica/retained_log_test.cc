#include "replica/retained_log.h"

#include <thread>

#include "gtest/gtest.h"

namespace xv {
namespace {

InputEvent Rx(uint8_t b) { return InputEvent::SerialRx({&b, 1}); }

TEST(RetainedLogTest, ReaderTakesInputsAtTheirEsnOnceFinalized) {
  RetainedLog log(16);
  const int r = log.AddReader(log.Begin());
  log.Append(3, Rx('a'));
  log.Append(3, Rx('b'));
  log.Append(5, Rx('c'));
  log.Finalize(5);
  std::vector<InputEvent> out;
  ASSERT_TRUE(log.Take(r, 1, out).ok());
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(log.Take(r, 3, out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], Rx('b'));
  out.clear();
  ASSERT_TRUE(log.Take(r, 5, out).ok());
  EXPECT_EQ(out, std::vector<InputEvent>{Rx('c')});
  EXPECT_EQ(log.position(r), 3u);
}

TEST(RetainedLogTest, SkippingAnInputIsAnError) {
  RetainedLog log(16);
  const int r = log.AddReader(log.Begin());
  log.Append(2, Rx('a'));
  log.Finalize(4);
  std::vector<InputEvent> out;
  absl::Status s = log.Take(r, 4, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("ESN 2"), std::string::npos) << s;
  EXPECT_TRUE(out.empty());
}

TEST(RetainedLogTest, TakeWaitsForTheLeaderAndAbortTakesNothing) {
  RetainedLog log(16);
  const int r = log.AddReader(log.Begin());
  std::vector<InputEvent> out;
  absl::Status s;
  std::thread reader([&] { s = log.Take(r, 7, out); });
  absl::Time since;
  while (!log.waiting_for_leader(r, &since)) std::this_thread::yield();
  log.Append(7, Rx('x'));
  log.Abort();
  reader.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(log.position(r), 0u);
  log.Resume();
  log.Finalize(7);
  ASSERT_TRUE(log.Take(r, 7, out).ok());
  EXPECT_EQ(out, std::vector<InputEvent>{Rx('x')});
}

TEST(RetainedLogTest, TrimKeepsOnlyWhatFollowsTheCheckpoint) {
  RetainedLog log(16);
  const int r = log.AddReader(log.Begin());
  log.Append(1, Rx('a'));
  log.Append(4, Rx('b'));
  log.MarkCheckpoint(4);
  log.Append(6, Rx('c'));
  log.MarkCheckpoint(8);
  log.Finalize(8);
  std::vector<InputEvent> out;
  ASSERT_TRUE(log.Take(r, 1, out).ok());
  ASSERT_TRUE(log.Take(r, 4, out).ok());
  log.TrimThrough(4);
  EXPECT_EQ(log.Begin(), 2u);
  EXPECT_FALSE(log.IsCheckpoint(4));
  EXPECT_TRUE(log.IsCheckpoint(8));
  EXPECT_EQ(log.FirstCheckpointAfter(4), 8u);
  EXPECT_EQ(log.FirstCheckpointAfter(8), std::nullopt);
  std::vector<RetainedInput> rest = log.EntriesFrom(log.Begin());
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].esn, 6u);
  out.clear();
  ASSERT_TRUE(log.Take(r, 6, out).ok());
  EXPECT_EQ(out, std::vector<InputEvent>{Rx('c')});
}

TEST(RetainedLogTest, TruncateReturnsWhatTheReaderHadNotTaken) {
  RetainedLog log(16);
  const int r = log.AddReader(log.Begin());
  log.Append(2, Rx('a'));
  log.Append(5, Rx('b'));
  log.Append(5, Rx('c'));
  log.MarkCheckpoint(6);
  log.Finalize(6);
  std::vector<InputEvent> out;
  ASSERT_TRUE(log.Take(r, 2, out).ok());
  std::vector<InputEvent> cut = log.TruncateAt(log.position(r), 4, 4);
  EXPECT_EQ(cut, (std::vector<InputEvent>{Rx('b'), Rx('c')}));
  EXPECT_EQ(log.End(), 1u);
  EXPECT_EQ(log.finalized(), 4u);
  EXPECT_FALSE(log.IsCheckpoint(6));
}

TEST(RetainedLogTest, LeaderWaitsForRoomUntilTheReaderCatchesUp) {
  RetainedLog log(2);
  const int r = log.AddReader(log.Begin());
  for (uint8_t i = 1; i <= 3; ++i) log.Append(i, Rx(i));
  log.Finalize(3);
  std::atomic<bool> room{false};
  std::thread leader([&] { room = log.WaitForRoom(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(room.load());
  std::vector<InputEvent> out;
  ASSERT_TRUE(log.Take(r, 1, out).ok());
  leader.join();
  EXPECT_TRUE(room.load());
}

}  // namespace
}  // namespace xv
