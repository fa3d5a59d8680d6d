#include "replica/log_channel.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "replay/log_records.h"

namespace xv {
namespace {

// Generous: the machine may be loaded; no test relies on it for timing.
constexpr absl::Duration kLong = absl::Seconds(60);

// The bytes an input at `esn` carries; every 1000th one is a disk read with a
// few sectors, so that some entries are large.
std::vector<uint8_t> PayloadFor(uint64_t esn) {
  const size_t size = esn % 1000 == 0 ? size_t{4} * 512 : 1 + esn % 7;
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = uint8_t(esn * 31 + i);
  return bytes;
}

LogEntry InputAt(uint64_t esn) {
  InputEvent input = esn % 1000 == 0
                         ? InputEvent::DiskReadCompletion(esn, PayloadFor(esn))
                         : InputEvent::SerialRx(PayloadFor(esn));
  return LoggedInput{.esn = esn, .input = std::move(input)};
}

// Whether `entry` is exactly what InputAt(esn) pushed.
bool IsInputAt(const LogEntry& entry, uint64_t esn) {
  const auto* input = std::get_if<LoggedInput>(&entry);
  if (input == nullptr || input->esn != esn) return false;
  const InputKind kind =
      esn % 1000 == 0 ? InputKind::kDiskReadCompletion : InputKind::kSerialRx;
  const uint64_t value = esn % 1000 == 0 ? esn : 0;
  return input->input.kind == kind && input->input.value == value &&
         input->input.data == PayloadFor(esn);
}

uint64_t EsnOf(const absl::StatusOr<std::optional<LogEntry>>& next) {
  if (!next.ok() || !next->has_value()) return ~uint64_t{0};
  return EntryEsn(**next);
}

// Polls `condition` (a state the code under test reaches by itself) until it
// holds or kLong passes.
bool Eventually(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + kLong;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

bool ConsumerWaiting(const LogChannel& channel, int consumer) {
  return channel.Stats().consumers[consumer].waiting;
}

TEST(LogChannelTest, DeliversEveryEntryInOrderToEachConsumer) {
  constexpr uint64_t kEntries = 100'000;
  LogChannel channel(64);
  const int consumers[] = {channel.AddConsumer(), channel.AddConsumer()};

  struct Result {
    uint64_t received = 0;
    uint64_t wrong = 0;  // out of order or damaged
    bool ended = false;
    absl::Status error;
  };
  Result results[2];
  std::vector<std::thread> threads;
  threads.reserve(2);
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&channel, &result = results[c], id = consumers[c]] {
      for (;;) {
        absl::StatusOr<std::optional<LogEntry>> next = channel.Next(id, kLong);
        if (!next.ok()) {
          result.error = next.status();
          return;
        }
        if (!next->has_value()) {
          result.ended = true;
          return;
        }
        if (!IsInputAt(**next, result.received)) ++result.wrong;
        ++result.received;
      }
    });
  }
  absl::Status push_status;
  for (uint64_t esn = 0; esn < kEntries && push_status.ok(); ++esn) {
    push_status = channel.Push(InputAt(esn));
  }
  channel.Close();
  for (std::thread& thread : threads) thread.join();

  EXPECT_TRUE(push_status.ok()) << push_status;
  for (const Result& result : results) {
    EXPECT_TRUE(result.error.ok()) << result.error;
    EXPECT_TRUE(result.ended);
    EXPECT_EQ(result.received, kEntries);
    EXPECT_EQ(result.wrong, 0u);
  }
  const LogChannelStats stats = channel.Stats();
  EXPECT_EQ(stats.pushed, kEntries);
  EXPECT_LE(stats.max_fill, 64u);
  EXPECT_EQ(stats.fill, 0u);
  ASSERT_EQ(stats.consumers.size(), 2u);
  for (const LogConsumerStats& consumer : stats.consumers) {
    EXPECT_EQ(consumer.consumed, kEntries);
    EXPECT_EQ(consumer.lag, 0u);
    EXPECT_LE(consumer.max_lag, 64u);
  }
}

// Fills a channel of capacity 4 whose consumer `fast` has read everything and
// `slow` nothing.
struct FullChannel {
  LogChannel channel{4};
  int fast = channel.AddConsumer();
  int slow = channel.AddConsumer();

  FullChannel() {
    for (uint64_t esn = 0; esn < 4; ++esn) {
      EXPECT_TRUE(channel.Push(InputAt(esn)).ok());
    }
    for (uint64_t esn = 0; esn < 4; ++esn) {
      EXPECT_EQ(EsnOf(channel.Next(fast, absl::ZeroDuration())), esn);
    }
  }
  bool ProducerBlocked() const { return channel.Stats().producer_waits == 1; }
};

TEST(LogChannelTest, ProducerBlocksUntilTheSlowestConsumerReads) {
  FullChannel full;
  EXPECT_EQ(full.channel.Stats().fill, 4u);

  absl::Notification pushed;
  absl::Status push_status;
  std::thread producer([&] {
    push_status = full.channel.Push(InputAt(4));
    pushed.Notify();
  });
  // The producer found the ring full and is waiting inside Push(): nothing
  // but a read by `slow` can let it out.
  ASSERT_TRUE(Eventually([&] { return full.ProducerBlocked(); }));
  EXPECT_FALSE(pushed.HasBeenNotified());
  // `fast` is level with the producer; its read does not make room.
  EXPECT_EQ(full.channel.Next(full.fast, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(pushed.HasBeenNotified());

  EXPECT_EQ(EsnOf(full.channel.Next(full.slow, absl::ZeroDuration())), 0u);
  EXPECT_TRUE(pushed.WaitForNotificationWithTimeout(kLong));
  producer.join();
  EXPECT_TRUE(push_status.ok()) << push_status;

  EXPECT_EQ(EsnOf(full.channel.Next(full.fast, absl::ZeroDuration())), 4u);
  for (uint64_t esn = 1; esn <= 4; ++esn) {
    EXPECT_EQ(EsnOf(full.channel.Next(full.slow, absl::ZeroDuration())), esn);
  }
  const LogChannelStats stats = full.channel.Stats();
  EXPECT_EQ(stats.pushed, 5u);
  EXPECT_EQ(stats.max_fill, 4u);
  EXPECT_EQ(stats.producer_waits, 1u);
  EXPECT_GT(stats.producer_blocked, absl::ZeroDuration());
}

TEST(LogChannelTest, RemovingTheSlowestConsumerUnblocksTheProducer) {
  FullChannel full;
  absl::Notification pushed;
  absl::Status push_status;
  std::thread producer([&] {
    push_status = full.channel.Push(InputAt(4));
    pushed.Notify();
  });
  ASSERT_TRUE(Eventually([&] { return full.ProducerBlocked(); }));
  EXPECT_FALSE(pushed.HasBeenNotified());

  full.channel.RemoveConsumer(full.slow);
  EXPECT_TRUE(pushed.WaitForNotificationWithTimeout(kLong));
  producer.join();
  EXPECT_TRUE(push_status.ok()) << push_status;

  EXPECT_EQ(EsnOf(full.channel.Next(full.fast, absl::ZeroDuration())), 4u);
  EXPECT_EQ(full.channel.Next(full.slow, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(full.channel.Peek(full.slow), nullptr);
  const LogChannelStats stats = full.channel.Stats();
  EXPECT_EQ(stats.fill, 0u);
  EXPECT_FALSE(stats.consumers[full.slow].live);
  EXPECT_EQ(stats.consumers[full.slow].lag, 0u);
  full.channel.RemoveConsumer(full.slow);  // again: nothing happens
}

TEST(LogChannelTest, RemovingAWaitingConsumerWakesItsNext) {
  LogChannel channel(4);
  const int consumer = channel.AddConsumer();
  absl::StatusOr<std::optional<LogEntry>> next;
  std::thread thread([&] { next = channel.Next(consumer, kLong); });
  ASSERT_TRUE(Eventually([&] { return ConsumerWaiting(channel, consumer); }));
  channel.RemoveConsumer(consumer);
  thread.join();
  EXPECT_EQ(next.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LogChannelTest, CloseLetsConsumersDrainThenEnds) {
  LogChannel channel(8);
  const int a = channel.AddConsumer();
  const int b = channel.AddConsumer();
  for (uint64_t esn = 0; esn < 3; ++esn) {
    ASSERT_TRUE(channel.Push(InputAt(esn)).ok());
  }
  // `b` waits for entry 3, which never comes.
  ASSERT_EQ(EsnOf(channel.Next(b, absl::ZeroDuration())), 0u);
  ASSERT_EQ(EsnOf(channel.Next(b, absl::ZeroDuration())), 1u);
  ASSERT_EQ(EsnOf(channel.Next(b, absl::ZeroDuration())), 2u);
  absl::StatusOr<std::optional<LogEntry>> b_next;
  std::thread waiter([&] { b_next = channel.Next(b, kLong); });
  ASSERT_TRUE(Eventually([&] { return ConsumerWaiting(channel, b); }));

  channel.Close();
  waiter.join();
  ASSERT_TRUE(b_next.ok()) << b_next.status();
  EXPECT_FALSE(b_next->has_value());

  EXPECT_EQ(channel.Push(InputAt(3)).code(),
            absl::StatusCode::kFailedPrecondition);
  for (uint64_t esn = 0; esn < 3; ++esn) {
    EXPECT_EQ(EsnOf(channel.Next(a, kLong)), esn);
  }
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<std::optional<LogEntry>> end = channel.Next(a, kLong);
    ASSERT_TRUE(end.ok()) << end.status();
    EXPECT_FALSE(end->has_value());
  }
  channel.Close();  // again: nothing happens
}

TEST(LogChannelTest, AbortWakesABlockedPushAndABlockedNext) {
  FullChannel full;
  absl::Status push_status;
  std::thread producer([&] { push_status = full.channel.Push(InputAt(4)); });
  absl::StatusOr<std::optional<LogEntry>> next;
  std::thread consumer([&] { next = full.channel.Next(full.fast, kLong); });
  ASSERT_TRUE(Eventually([&] { return full.ProducerBlocked(); }));
  ASSERT_TRUE(Eventually([&] { return ConsumerWaiting(full.channel, 0); }));

  full.channel.Abort();
  producer.join();
  consumer.join();
  EXPECT_EQ(push_status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(next.status().code(), absl::StatusCode::kCancelled);

  // Everyone fails from now on, even with entries held.
  EXPECT_EQ(full.channel.Next(full.slow, kLong).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(full.channel.Peek(full.slow), nullptr);
  EXPECT_EQ(full.channel.Push(InputAt(5)).code(), absl::StatusCode::kCancelled);
}

TEST(LogChannelTest, NextTimesOutWithoutAnEntry) {
  LogChannel channel(4);
  const int consumer = channel.AddConsumer();
  EXPECT_EQ(channel.Next(consumer, absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(channel.Next(consumer, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  // A timeout leaves the consumer usable.
  ASSERT_TRUE(channel.Push(InputAt(0)).ok());
  EXPECT_EQ(EsnOf(channel.Next(consumer, absl::ZeroDuration())), 0u);
  EXPECT_FALSE(channel.Stats().consumers[consumer].waiting);
}

TEST(LogChannelTest, NextWaitsForThePushedEntry) {
  LogChannel channel(4);
  const int consumer = channel.AddConsumer();
  absl::StatusOr<std::optional<LogEntry>> next;
  std::thread thread([&] { next = channel.Next(consumer, kLong); });
  ASSERT_TRUE(Eventually([&] { return ConsumerWaiting(channel, consumer); }));
  ASSERT_TRUE(channel.Push(InputAt(0)).ok());
  thread.join();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->has_value());
  EXPECT_TRUE(IsInputAt(**next, 0));
}

TEST(LogChannelTest, UnknownConsumersFail) {
  LogChannel channel(4);
  EXPECT_EQ(channel.Next(0, kLong).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(channel.Next(-1, kLong).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(channel.Peek(3), nullptr);
  channel.RemoveConsumer(7);
}

TEST(LogChannelTest, LateConsumerStartsAtTheOldestHeldEntry) {
  LogChannel channel(8);
  const int first = channel.AddConsumer();
  for (uint64_t esn = 0; esn < 5; ++esn) {
    ASSERT_TRUE(channel.Push(InputAt(esn)).ok());
  }
  ASSERT_EQ(EsnOf(channel.Next(first, absl::ZeroDuration())), 0u);
  ASSERT_EQ(EsnOf(channel.Next(first, absl::ZeroDuration())), 1u);

  // Entries 0 and 1 are gone; 2..4 are still held for `first`.
  const int late = channel.AddConsumer();
  EXPECT_EQ(channel.Stats().consumers[late].lag, 3u);
  for (uint64_t esn = 2; esn < 5; ++esn) {
    EXPECT_EQ(EsnOf(channel.Next(late, absl::ZeroDuration())), esn);
  }
  // And then it sees later entries like the others.
  ASSERT_TRUE(channel.Push(InputAt(5)).ok());
  EXPECT_EQ(EsnOf(channel.Next(late, absl::ZeroDuration())), 5u);
  for (uint64_t esn = 2; esn < 6; ++esn) {
    EXPECT_EQ(EsnOf(channel.Next(first, absl::ZeroDuration())), esn);
  }
}

TEST(LogChannelTest, EntriesWaitWhileNoConsumerIsLive) {
  LogChannel channel(8);
  ASSERT_TRUE(channel.Push(InputAt(0)).ok());
  ASSERT_TRUE(channel.Push(InputAt(1)).ok());
  const int first = channel.AddConsumer();
  EXPECT_EQ(EsnOf(channel.Next(first, absl::ZeroDuration())), 0u);
  // The only consumer leaves: what it has not read stays for the next one.
  channel.RemoveConsumer(first);
  ASSERT_TRUE(channel.Push(InputAt(2)).ok());
  const int second = channel.AddConsumer();
  EXPECT_EQ(EsnOf(channel.Next(second, absl::ZeroDuration())), 1u);
  EXPECT_EQ(EsnOf(channel.Next(second, absl::ZeroDuration())), 2u);
}

TEST(LogChannelTest, PeekDoesNotConsume) {
  LogChannel channel(1024);
  const int a = channel.AddConsumer();
  const int b = channel.AddConsumer();
  EXPECT_EQ(channel.Peek(a), nullptr);
  ASSERT_TRUE(channel.Push(InputAt(0)).ok());

  const LogEntry* peeked = channel.Peek(a);
  ASSERT_NE(peeked, nullptr);
  EXPECT_TRUE(IsInputAt(*peeked, 0));
  EXPECT_EQ(channel.Peek(a), peeked);
  // The entry stays put while the producer pushes more and others read.
  for (uint64_t esn = 1; esn < 1000; ++esn) {
    ASSERT_TRUE(channel.Push(InputAt(esn)).ok());
  }
  for (uint64_t esn = 0; esn < 1000; ++esn) {
    ASSERT_EQ(EsnOf(channel.Next(b, absl::ZeroDuration())), esn);
  }
  EXPECT_TRUE(IsInputAt(*peeked, 0));
  EXPECT_EQ(channel.Stats().consumers[a].consumed, 0u);

  absl::StatusOr<std::optional<LogEntry>> next =
      channel.Next(a, absl::ZeroDuration());
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_TRUE(IsInputAt(**next, 0));
  const LogEntry* after = channel.Peek(a);
  ASSERT_NE(after, nullptr);
  EXPECT_TRUE(IsInputAt(*after, 1));
}

TEST(LogChannelTest, StatsReportLagPerConsumer) {
  LogChannel channel(8);
  const int a = channel.AddConsumer();
  const int b = channel.AddConsumer();
  for (uint64_t esn = 0; esn < 5; ++esn) {
    ASSERT_TRUE(channel.Push(InputAt(esn)).ok());
  }
  ASSERT_EQ(EsnOf(channel.Next(a, absl::ZeroDuration())), 0u);
  ASSERT_EQ(EsnOf(channel.Next(a, absl::ZeroDuration())), 1u);
  LogChannelStats stats = channel.Stats();
  EXPECT_EQ(stats.capacity, 8u);
  EXPECT_EQ(stats.pushed, 5u);
  EXPECT_EQ(stats.fill, 5u);
  EXPECT_EQ(stats.max_fill, 5u);
  EXPECT_EQ(stats.producer_waits, 0u);
  EXPECT_EQ(stats.producer_blocked, absl::ZeroDuration());
  EXPECT_EQ(stats.consumers[a].consumed, 2u);
  EXPECT_EQ(stats.consumers[a].lag, 3u);
  EXPECT_EQ(stats.consumers[a].max_lag, 5u);
  EXPECT_EQ(stats.consumers[b].consumed, 0u);
  EXPECT_EQ(stats.consumers[b].lag, 5u);

  for (int i = 0; i < 5; ++i) ASSERT_TRUE(channel.Next(b, kLong).ok());
  stats = channel.Stats();
  EXPECT_EQ(stats.fill, 3u);
  EXPECT_EQ(stats.max_fill, 5u);
  EXPECT_EQ(stats.consumers[b].lag, 0u);
}

}  // namespace
}  // namespace xv
