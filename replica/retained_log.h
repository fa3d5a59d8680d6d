// RetainedLog: the nondeterminism log between replicas (DESIGN §3, §4),
// from the last verified checkpoint on. The leader appends every input it
// applies, at its ESN, and marks the ESNs it chose for checkpoints; the
// follower takes the inputs at each of its exits once the leader has
// finished that exit; a third replica rebuilt from the checkpoint replays
// all of it. A verified checkpoint at ESN k drops everything at or before k.
//
// Flow control: the leader waits (WaitForRoom, at a rendezvous) while the
// slowest reader is more than `capacity` entries behind, so the log stays
// bounded by the checkpoint interval plus that lag; nothing is dropped.
// When the leader is voted out, TruncateAt() cuts the log where the
// promoted follower stopped reading and returns the rest for re-queuing.
#ifndef EXTRAVIRT_REPLICA_RETAINED_LOG_H_
#define EXTRAVIRT_REPLICA_RETAINED_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "machine/input_event.h"

namespace xv {

struct RetainedInput {
  uint64_t esn = 0;
  InputEvent input;
};

class RetainedLog {
 public:
  explicit RetainedLog(size_t capacity) : capacity_(capacity) {}
  RetainedLog(const RetainedLog&) = delete;
  RetainedLog& operator=(const RetainedLog&) = delete;

  // Leader. Appends an input applied after exit `esn` (never blocks).
  void Append(uint64_t esn, const InputEvent& input);
  // Exit `esn` is a checkpoint: every replica stops there to be verified.
  void MarkCheckpoint(uint64_t esn);
  bool IsCheckpoint(uint64_t esn) const;
  // The first checkpoint marked after `esn`.
  std::optional<uint64_t> FirstCheckpointAfter(uint64_t esn) const;
  // The leader finished exit `esn`: no more inputs will come at or before
  // it. `Finish()`: the leader's run ended; nothing more will come at all.
  void Finalize(uint64_t esn);
  void Finish();
  uint64_t finalized() const;
  // Blocks while a reader lags more than `capacity` entries behind. False
  // when aborted.
  bool WaitForRoom();

  // Readers. A reader starts at an absolute position (Begin() for the
  // whole retained log) and takes entries in order.
  int AddReader(uint64_t position);
  void RemoveReader(int reader);
  uint64_t position(int reader) const;
  // Waits until the leader finished exit `esn` (or ended), then appends the
  // inputs at `esn` to `out`. An input the reader skipped (before `esn`) is
  // an error; kAborted when aborted (nothing taken). `waiting` is set while
  // it waits for the leader (hang detection reads it).
  absl::Status Take(int reader, uint64_t esn, std::vector<InputEvent>& out);
  // True while `reader` waits in Take for the leader; since when.
  bool waiting_for_leader(int reader, absl::Time* since) const;

  // Everything from `position` on, for a replica rebuilt from the
  // checkpoint (a copy: the leader may append meanwhile).
  std::vector<RetainedInput> EntriesFrom(uint64_t position) const;
  uint64_t Begin() const;  // absolute position of the oldest entry
  uint64_t End() const;    // one past the newest

  // A checkpoint at `esn` was verified: drop the entries and marks at or
  // before it.
  void TrimThrough(uint64_t esn);
  // The leader was voted out: drops the entries from `position` on and the
  // checkpoint marks after `marks_through` (those the promoted follower has
  // not seen), returns the inputs, and sets the finalized ESN for the new
  // leader.
  std::vector<InputEvent> TruncateAt(uint64_t position, uint64_t finalized_esn,
                                     uint64_t marks_through);

  // Wakes every waiter; Take and WaitForRoom fail until Resume().
  void Abort();
  void Resume();

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<RetainedInput> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t base_ ABSL_GUARDED_BY(mu_) = 0;  // absolute index of entries_[0]
  std::set<uint64_t> checkpoints_ ABSL_GUARDED_BY(mu_);
  uint64_t finalized_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  struct Reader {
    uint64_t position = 0;
    bool waiting = false;
    absl::Time since;
  };
  std::map<int, Reader> readers_ ABSL_GUARDED_BY(mu_);
  int next_reader_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_RETAINED_LOG_H_
