// LogChannel: the in-memory nondeterminism log between the leader replica and
// its followers (DESIGN §3–§4). A bounded single-producer/multi-consumer ring
// of LogEntry values: the leader Push()es every record it logs, and each
// follower reads every entry, in order, with its own cursor.
//
// Flow control, never loss: the ring holds at most `capacity` entries that
// the slowest live consumer has not yet consumed, and Push() blocks while it
// is full. An entry is dropped once every live consumer has passed it. A
// consumer that is voted out is removed (RemoveConsumer) so that it no longer
// holds the leader back.
//
// Entries carry absolute 64-bit sequence numbers: the first entry ever pushed
// is 0. They are ring positions, not ESNs (several entries share an ESN).
//
// Thread safety: every method may be called from any thread. There is one
// producer (Push, Close); each consumer id is used by one thread at a time
// (Next, Peek). Abort and RemoveConsumer may come from anywhere.
#ifndef EXTRAVIRT_REPLICA_LOG_CHANNEL_H_
#define EXTRAVIRT_REPLICA_LOG_CHANNEL_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "replay/log_records.h"

namespace xv {

struct LogConsumerStats {
  int id = 0;
  bool live = false;     // not removed
  bool waiting = false;  // blocked in Next() for the producer right now
  // Entries this consumer took with Next().
  uint64_t consumed = 0;
  // How far it is behind the producer: entries pushed that it has yet to
  // read (0 once removed).
  uint64_t lag = 0;
  // The highest lag it had right after a Push().
  uint64_t max_lag = 0;
};

struct LogChannelStats {
  size_t capacity = 0;
  uint64_t pushed = 0;
  // Entries held now, and the most ever held (at most `capacity`).
  size_t fill = 0;
  size_t max_fill = 0;
  // Push() calls that found the ring full, and their total time waiting.
  uint64_t producer_waits = 0;
  absl::Duration producer_blocked;
  std::vector<LogConsumerStats> consumers;  // indexed by consumer id
};

class LogChannel {
 public:
  // `capacity` > 0: how far the slowest live consumer may lag the producer.
  explicit LogChannel(size_t capacity);

  LogChannel(const LogChannel&) = delete;
  LogChannel& operator=(const LogChannel&) = delete;

  // A new consumer, positioned at the oldest entry the ring still holds.
  // Entries are dropped as soon as every live consumer has passed them, so a
  // consumer added late (a third replica) sees everything the slowest live
  // consumer has not consumed yet, then every later entry; what was dropped
  // before it arrived it must get elsewhere (the retained log). While no
  // consumer is live nothing is dropped: entries pushed before the first
  // consumer wait for it (and Push() blocks once `capacity` are held).
  // Ids are 0, 1, 2, ... in order of addition and never reused.
  int AddConsumer();

  // The producer appends `entry`. Blocks while the ring is full. Errors:
  // Cancelled if the channel is or gets aborted (the entry is lost),
  // FailedPrecondition after Close().
  absl::Status Push(LogEntry entry);

  // The consumer's next entry, waiting for up to `timeout` for the producer
  // to push it (absl::InfiniteDuration() waits forever). Returns a copy (the
  // entry itself when this was its last reader); std::nullopt once the
  // producer has closed the channel and this consumer has consumed
  // everything. Errors: DeadlineExceeded after `timeout` with no entry (the
  // caller's hung-leader detector), Cancelled after Abort() (even if entries
  // remain), FailedPrecondition for an unknown or removed consumer (also when
  // it is removed while waiting).
  absl::StatusOr<std::optional<LogEntry>> Next(int consumer,
                                               absl::Duration timeout);

  // The consumer's next entry without consuming it, or nullptr if the
  // producer has not pushed it yet (or the consumer is unknown or removed,
  // or the channel was aborted). Never blocks. The pointer stays valid until
  // this consumer's next Next() or its RemoveConsumer().
  const LogEntry* Peek(int consumer) const;

  // The consumer no longer holds entries or the producer back; its Next()
  // fails from now on. Removing an unknown or removed consumer does nothing.
  void RemoveConsumer(int consumer);

  // The producer has pushed its last entry: consumers drain what is held,
  // then Next() returns std::nullopt. Idempotent.
  void Close();

  // Fails everyone, now and from now on: a blocked Push() or Next() wakes
  // and returns Cancelled (divergence handling, shutdown). Idempotent.
  void Abort();

  LogChannelStats Stats() const;

 private:
  struct Consumer {
    uint64_t next = 0;  // sequence number of its next entry
    uint64_t consumed = 0;
    uint64_t max_lag = 0;
    bool live = true;
    bool waiting = false;
  };

  // Drops the entries every live consumer has passed; wakes the producer if
  // that made room.
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t FillLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entries_.size();
  }
  // Whether `consumer` was added and not removed.
  bool LiveLocked(int consumer) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;

  mutable absl::Mutex mu_;
  absl::CondVar not_full_;   // the producer waits for room
  absl::CondVar not_empty_;  // consumers wait for entries
  // entries_[i] has sequence number base_ + i; base_ + entries_.size() is
  // the next one Push() assigns.
  std::deque<LogEntry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t base_ ABSL_GUARDED_BY(mu_) = 0;
  // Indexed by id; a deque so that AddConsumer() never moves one that a
  // waiting Next() points to.
  std::deque<Consumer> consumers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;

  size_t max_fill_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t producer_waits_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration producer_blocked_ ABSL_GUARDED_BY(mu_);
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_LOG_CHANNEL_H_
