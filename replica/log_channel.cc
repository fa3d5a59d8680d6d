#include "replica/log_channel.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/check.h"

namespace xv {

LogChannel::LogChannel(size_t capacity) : capacity_(capacity) {
  XV_CHECK(capacity > 0, "LogChannel needs a capacity of at least 1");
}

int LogChannel::AddConsumer() {
  absl::MutexLock lock(&mu_);
  Consumer consumer;
  consumer.next = base_;
  consumer.max_lag = entries_.size();
  consumers_.push_back(consumer);
  return static_cast<int>(consumers_.size() - 1);
}

absl::Status LogChannel::Push(LogEntry entry) {
  absl::MutexLock lock(&mu_);
  if (FillLocked() >= capacity_ && !aborted_ && !closed_) {
    ++producer_waits_;
    const absl::Time start = absl::Now();
    while (FillLocked() >= capacity_ && !aborted_ && !closed_) {
      not_full_.Wait(&mu_);
    }
    producer_blocked_ += absl::Now() - start;
  }
  if (aborted_) {
    return absl::CancelledError("LogChannel::Push: the channel was aborted");
  }
  if (closed_) {
    return absl::FailedPreconditionError(
        "LogChannel::Push: the channel was closed");
  }
  entries_.push_back(std::move(entry));
  const uint64_t end = base_ + entries_.size();
  max_fill_ = std::max(max_fill_, entries_.size());
  for (Consumer& consumer : consumers_) {
    if (consumer.live) {
      consumer.max_lag = std::max(consumer.max_lag, end - consumer.next);
    }
  }
  not_empty_.SignalAll();
  return absl::OkStatus();
}

bool LogChannel::LiveLocked(int consumer) const {
  return consumer >= 0 && static_cast<size_t>(consumer) < consumers_.size() &&
         consumers_[consumer].live;
}

absl::StatusOr<std::optional<LogEntry>> LogChannel::Next(
    int consumer, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  bool timed_out = false;
  for (;;) {
    if (aborted_) {
      return absl::CancelledError(absl::StrFormat(
          "LogChannel::Next(consumer %d): the channel was aborted", consumer));
    }
    if (!LiveLocked(consumer)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "LogChannel::Next: no live consumer %d (never added, or removed)",
          consumer));
    }
    Consumer* self = &consumers_[consumer];
    if (self->next < base_ + entries_.size()) {
      const uint64_t seq = self->next;
      // The slot stays held until every live consumer has passed it, so the
      // last reader can take the entry itself instead of copying it.
      bool last_reader = true;
      for (const Consumer& other : consumers_) {
        if (other.live && &other != self && other.next <= seq) {
          last_reader = false;
          break;
        }
      }
      LogEntry& slot = entries_[seq - base_];
      std::optional<LogEntry> entry =
          last_reader ? LogEntry(std::move(slot)) : LogEntry(slot);
      ++self->next;
      ++self->consumed;
      TrimLocked();
      return entry;
    }
    if (closed_) return std::nullopt;
    if (timed_out) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "LogChannel::Next(consumer %d): entry %d not pushed within %s",
          consumer, self->next, absl::FormatDuration(timeout)));
    }
    self->waiting = true;
    timed_out = not_empty_.WaitWithDeadline(&mu_, deadline);
    self->waiting = false;
  }
}

const LogEntry* LogChannel::Peek(int consumer) const {
  absl::MutexLock lock(&mu_);
  if (aborted_ || !LiveLocked(consumer)) return nullptr;
  const uint64_t next = consumers_[consumer].next;
  if (next >= base_ + entries_.size()) return nullptr;
  // Deque elements do not move when others are pushed or popped, and this one
  // is held until this consumer passes it.
  return &entries_[next - base_];
}

void LogChannel::RemoveConsumer(int consumer) {
  absl::MutexLock lock(&mu_);
  if (!LiveLocked(consumer)) return;
  consumers_[consumer].live = false;
  TrimLocked();
  // Its own Next() may be waiting: let it see the removal.
  not_empty_.SignalAll();
}

void LogChannel::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  not_empty_.SignalAll();
  not_full_.SignalAll();
}

void LogChannel::Abort() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
  not_empty_.SignalAll();
  not_full_.SignalAll();
}

void LogChannel::TrimLocked() {
  bool any_live = false;
  uint64_t oldest_needed = base_ + entries_.size();
  for (const Consumer& consumer : consumers_) {
    if (consumer.live) {
      any_live = true;
      oldest_needed = std::min(oldest_needed, consumer.next);
    }
  }
  // With no live consumer, entries wait for the next one (see AddConsumer).
  if (!any_live || oldest_needed == base_) return;
  const bool was_full = FillLocked() >= capacity_;
  while (base_ < oldest_needed) {
    entries_.pop_front();
    ++base_;
  }
  if (was_full) not_full_.Signal();
}

LogChannelStats LogChannel::Stats() const {
  absl::MutexLock lock(&mu_);
  LogChannelStats stats;
  stats.capacity = capacity_;
  stats.pushed = base_ + entries_.size();
  stats.fill = entries_.size();
  stats.max_fill = max_fill_;
  stats.producer_waits = producer_waits_;
  stats.producer_blocked = producer_blocked_;
  for (size_t i = 0; i < consumers_.size(); ++i) {
    const Consumer& consumer = consumers_[i];
    LogConsumerStats& out = stats.consumers.emplace_back();
    out.id = static_cast<int>(i);
    out.live = consumer.live;
    out.waiting = consumer.waiting;
    out.consumed = consumer.consumed;
    out.lag = consumer.live ? stats.pushed - consumer.next : 0;
    out.max_lag = consumer.max_lag;
  }
  return stats;
}

}  // namespace xv
