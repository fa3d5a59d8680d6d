// OutputGate: the output-commit point of the replicas (DESIGN §2, §4). Every
// output a replica emits (serial bytes, disk writes, disk read requests,
// debug-exit) goes to the gate instead of a back-end; the gate hands an
// output to the real back-end only once both replicas emitted it, so no
// unverified output ever leaves the sphere of replication.
//
// Slots. The gate has two replica slots, 0 and 1 (by convention 0 is the
// leader and 1 the follower; the gate itself treats them alike). Each slot's
// replica Submit()s every output it emits, in its emission order, with the
// ESN of the exit that emitted it. The k-th submission of slot 0 is matched
// against the k-th submission of slot 1.
//
// Release. The k-th outputs of the two slots agree when ESN, kind, device,
// arg, count and every data byte are equal. An agreed output is released:
// handed to the sink given at construction, exactly once, in submission
// order. The sink is never called with the gate's lock held, and never by two
// threads at once: whichever thread finds released outputs waiting delivers
// them, in order, and keeps delivering until none is left (so the sink may
// call back into the gate, and Submit may return before an output it
// verified has reached the sink, while another thread is delivering it).
//
// Divergence. When the k-th outputs differ (content or ESN), or a slot
// reports with Reached() that it has handled every exit up to an ESN without
// emitting the output the other slot emitted at or before it, the gate
// diverges: it releases nothing verified after that point, keeps a report
// (divergence()), and every Submit/Reached returns kAborted from then on.
// Outputs verified before the divergence are still delivered. Submissions
// made while diverged are held, not dropped (so the surviving replica loses
// nothing): the replica should pause on kAborted until the vote.
//
// Recovery (DESIGN §4). A third replica, started from the last verified
// checkpoint, replays the log to the divergence point and a 2-of-3 vote
// names the faulty replica. Then:
//   1. ReplaceSlot(loser): the loser's held, unmatched submissions are
//      discarded; the slot now belongs to the replacement. The survivor's
//      unmatched submissions stay.
//   2. ClearDivergence(): the gate resumes. (If the two slots' held outputs
//      still disagree, it diverges again at once.)
//   3. The replacement submits every output it emits from the last verified
//      checkpoint on, in order, from the first. Those the gate already
//      released are checked against the history of released outputs (a
//      mismatch is a divergence too) and are not released again. Past the
//      end of that history, its submissions are matched against the other
//      slot's pending ones as usual.
// The history holds every output released since the last verified
// checkpoint: Verified(esn) drops those at or before `esn` (outputs emitted
// while handling exit `esn` belong to the checkpoint taken there), except
// those a replacement still has to re-submit. A slot may also be replaced
// without a divergence (a crashed replica). If no majority is found, the
// manager leaves the gate diverged: nothing further is released.
//
// Disk writes. Each slot has a PendingDiskWrites overlay of its kDiskWrite
// outputs that are not yet in the back-end (added at Submit, dropped after
// the sink took the write; a replacement's replayed writes are dropped as
// soon as they are known to be in the back-end). PendingWritesSnapshot()
// lets a disk back-end answer a read for a replica with that replica's own
// unverified writes on top (see PendingDiskWrites::Snapshot for the order).
//
// Whether kDiskReadRequest outputs go through the gate is the manager's
// choice. Gated, the back-end sees a read only after every earlier write was
// released (no overlay needed), at the cost of the leader waiting for the
// follower on every read. Answered at once from the leader's view (back-end
// + the leader's pending writes), the read data is an input computed from
// unverified writes: if the gate then diverges, such inputs placed after the
// divergence point must be recomputed for the survivor, not re-queued as is.
//
// Thread safety: every method may be called from any thread. Submit and
// Reached for one slot must come from one thread at a time, in the order the
// replica emitted them (they are what orders that slot's stream).
#ifndef EXTRAVIRT_REPLICA_OUTPUT_GATE_H_
#define EXTRAVIRT_REPLICA_OUTPUT_GATE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "devices/output_sink.h"
#include "replica/pending_disk_writes.h"

namespace xv {

inline constexpr int kGateSlots = 2;

// An output as the gate holds it: an owned copy of a DeviceOutput and the
// ESN of the exit that emitted it.
struct GateOutput {
  uint64_t esn = 0;
  OutputKind kind = OutputKind::kSerialTx;
  std::string device;
  uint64_t arg = 0;
  uint32_t count = 0;
  std::vector<uint8_t> data;

  static GateOutput Copy(uint64_t esn, const DeviceOutput& output);
  // A view of this output; valid while it lives and is not modified.
  DeviceOutput view() const;
  // One line: "ESN 7 uart0 serial_tx arg=0x0 count=0 data[5]=48 65 6c 6c 6f"
  // (long data: its first 32 bytes, its length and its XXH3-128).
  std::string Describe() const;

  friend bool operator==(const GateOutput&, const GateOutput&) = default;
};

enum class DivergenceCause : uint8_t {
  // The k-th outputs of the two slots differ (content or ESN).
  kMismatch,
  // A replacement re-submitted an output that differs from the one released
  // at that position.
  kHistoryMismatch,
  // A slot reported (Reached) that it handled every exit up to an ESN, but
  // it never emitted the output the other slot emitted at or before it
  // (or, for a replacement, the released output there).
  kMissingOutput,
};

std::string_view DivergenceCauseName(DivergenceCause cause);

struct OutputDivergence {
  DivergenceCause cause = DivergenceCause::kMismatch;
  // Position in the stream of agreed outputs: the number of outputs the
  // gate had verified before this one since it was created.
  uint64_t index = 0;
  // The first divergent ESN: the lower ESN of the two outputs, or the ESN of
  // the output one slot is missing.
  uint64_t esn = 0;
  // kMissingOutput: the slot that is missing the output. Otherwise the slot
  // whose submission revealed the divergence (-1: ClearDivergence found the
  // held outputs still disagreeing).
  int slot = -1;
  // What each slot submitted at `index`; none when it has nothing there
  // (the slot that is missing an output, and the other slot of a
  // kHistoryMismatch/kMissingOutput against history).
  std::array<std::optional<GateOutput>, kGateSlots> submitted;
  // kHistoryMismatch, kMissingOutput against history: what was released at
  // `index`.
  std::optional<GateOutput> released;
  // kMissingOutput: the ESN the missing slot reported having reached.
  uint64_t reached_esn = 0;
  // When both sides have data and it differs: the first byte that differs.
  std::optional<size_t> first_differing_byte;

  std::string ToString() const;
};

struct OutputGateOptions {
  // Release latencies kept (the most recent ones) for latency()/samples.
  size_t latency_window = 4096;
  // Clock for latencies, in ns; steady_clock when empty. Tests inject one.
  std::function<int64_t()> now_ns;
};

struct OutputGateStats {
  std::array<uint64_t, kGateSlots> submitted{};  // since the gate started
  uint64_t verified = 0;  // agreed outputs (released or about to be)
  uint64_t released = 0;  // handed to the sink
  uint64_t replayed = 0;  // replacements' outputs checked against history
  std::array<size_t, kGateSlots> pending{};  // submitted, not yet matched
  std::array<uint64_t, kGateSlots> pending_bytes{};
  std::array<bool, kGateSlots> replaying{};  // re-submitting history
  size_t history = 0;  // released outputs kept since the verified checkpoint
  uint64_t history_bytes = 0;
  bool diverged = false;
};

// Latency from the first submission of an output (the leader's, which runs
// ahead) to its hand-over to the sink, over the last `samples` releases.
// Percentiles are nearest-rank.
struct GateLatency {
  size_t samples = 0;
  int64_t min_ns = 0;
  int64_t median_ns = 0;
  int64_t p99_ns = 0;
  int64_t max_ns = 0;
};

class OutputGate {
 public:
  // `sink` (the real back-ends) must outlive the gate.
  explicit OutputGate(OutputSink* sink, OutputGateOptions options = {});

  OutputGate(const OutputGate&) = delete;
  OutputGate& operator=(const OutputGate&) = delete;

  // Slot `slot`'s replica emitted `output` while handling exit `esn`. The
  // output is copied. Releases what becomes verified. kInvalidArgument for a
  // slot that is not 0 or 1; kAborted (with the report) when the gate has
  // diverged, including by this submission, which is then held.
  absl::Status Submit(int slot, uint64_t esn, const DeviceOutput& output);

  // Slot `slot`'s replica has handled every exit up to `esn`, and submitted
  // every output they emitted. Optional; detects an output a replica failed
  // to emit without waiting for its next output. kAborted as Submit.
  absl::Status Reached(int slot, uint64_t esn);

  // A new replica, started from the last verified checkpoint, takes over
  // `slot`: see the recovery protocol above.
  void ReplaceSlot(int slot);

  // A checkpoint at `esn` is verified: released outputs at or before it are
  // no longer needed for replacements (a replacement that is still
  // re-submitting them keeps them until it has).
  void Verified(uint64_t esn);

  // The vote succeeded (after ReplaceSlot); resumes matching and releasing.
  void ClearDivergence();

  std::optional<OutputDivergence> divergence() const;
  bool diverged() const;

  // The pending disk writes of `slot` in [lba, lba + count): read the
  // back-end after taking it, then Overlay() the data with it.
  PendingDiskWrites PendingWritesSnapshot(int slot, uint64_t lba,
                                          uint32_t count) const;

  OutputGateStats stats() const;
  GateLatency latency() const;
  // The release latencies in the window, oldest first.
  std::vector<int64_t> latency_samples() const;

 private:
  struct Submission {
    GateOutput output;
    int64_t submit_ns = 0;
  };
  struct ToDeliver {
    std::shared_ptr<const GateOutput> output;
    int64_t first_submit_ns = 0;
  };

  int64_t Now() const;
  // Matches what can be matched; sets divergence_ on the first mismatch.
  void AdvanceLocked(int actor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckMissingLocked(int slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PopPendingLocked(int slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RecordLatencyLocked(int64_t ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AbortedLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  uint64_t HistoryEndLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return history_base_ + history_.size();
  }
  const GateOutput& HistoryAtLocked(uint64_t index) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return *history_[index - history_base_];
  }
  // Hands verified outputs to the sink, outside the lock, unless another
  // thread is already doing so.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_);

  OutputSink* const sink_;
  const OutputGateOptions options_;

  mutable absl::Mutex mu_;
  std::array<std::deque<Submission>, kGateSlots> pending_ ABSL_GUARDED_BY(mu_);
  std::array<uint64_t, kGateSlots> pending_bytes_ ABSL_GUARDED_BY(mu_){};
  std::array<uint64_t, kGateSlots> submitted_ ABSL_GUARDED_BY(mu_){};
  // The highest ESN each slot has Reached() (none since it started).
  std::array<std::optional<uint64_t>, kGateSlots> reached_ ABSL_GUARDED_BY(mu_);
  // For a replacement still re-submitting released outputs: the stream
  // index of the next one it must match.
  std::array<std::optional<uint64_t>, kGateSlots> replay_next_
      ABSL_GUARDED_BY(mu_);
  std::array<PendingDiskWrites, kGateSlots> disk_writes_ ABSL_GUARDED_BY(mu_);

  // Verified outputs since the last verified checkpoint; history_[0] has
  // stream index history_base_. Every verified output is appended.
  std::deque<std::shared_ptr<const GateOutput>> history_ ABSL_GUARDED_BY(mu_);
  uint64_t history_base_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t history_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<uint64_t> verified_esn_ ABSL_GUARDED_BY(mu_);
  uint64_t replayed_ ABSL_GUARDED_BY(mu_) = 0;

  // Verified, not yet taken by a delivering thread.
  std::deque<ToDeliver> to_deliver_ ABSL_GUARDED_BY(mu_);
  // Outputs the sink has taken (and whose disk writes left the overlays).
  uint64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  bool delivering_ ABSL_GUARDED_BY(mu_) = false;

  std::optional<OutputDivergence> divergence_ ABSL_GUARDED_BY(mu_);

  // Ring of the last options_.latency_window release latencies.
  std::vector<int64_t> latencies_ ABSL_GUARDED_BY(mu_);
  size_t latency_next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_OUTPUT_GATE_H_
