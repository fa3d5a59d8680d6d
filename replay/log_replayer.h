// LogReplayer: reads a nondeterminism log and tells whoever runs the vCPU
// what to apply and what to expect (DESIGN §2–§3). Like LogRecorder it never
// touches KVM; the caller mirrors the recorder's protocol:
//   - build the machine from machine() and CheckInitialState(its hash);
//   - after handling exit `esn`, apply InputsAt(esn) (call it again while
//     the guest halts: the inputs that woke it come at the same ESN);
//   - report every output with OnOutput(esn, ...);
//   - at each rendezvous, Rendezvous(esn, hash) with the state hash when
//     CheckpointDue(esn);
//   - stop where StopHere(esn) says, then Finish().
// Any disagreement with the log is a divergence: the call returns
// absl::AbortedError and divergence() says where and what. Other errors are
// problems with the log file itself.
#ifndef EXTRAVIRT_REPLAY_LOG_REPLAYER_H_
#define EXTRAVIRT_REPLAY_LOG_REPLAYER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "devices/output_sink.h"
#include "machine/input_event.h"
#include "replay/log_reader.h"
#include "replay/log_records.h"
#include "replay/output_digests.h"

namespace xv {

// The first point where a replay disagreed with its recording.
struct Divergence {
  uint64_t esn = 0;
  // What was compared: "initial state", "state hash", "output of uart0",
  // "input", "end of run".
  std::string what;
  std::string expected;
  std::string actual;
  // The last ESN at which the whole state was verified (a checkpoint, or 0:
  // the initial state); the divergence began after it.
  uint64_t last_verified_esn = 0;
  // Filled in by a replayer that owns the machine.
  std::optional<uint64_t> rip;
  std::string guest_position;
  std::string last_exit;
};

struct ReplayCounts {
  uint64_t inputs = 0;
  uint64_t outputs = 0;  // outputs covered by verified digests
  uint64_t digests = 0;
  uint64_t checkpoints = 0;
  // The last ESN whose whole state hash matched.
  uint64_t last_verified_esn = 0;
};

// How the replayed run ended, as the caller saw it.
struct ReplayedEnd {
  uint64_t esn = 0;
  int exit_status = 0;
  std::string stop_reason;
  uint64_t debug_exit_value = 0;
  // Stopped because StopHere() said so (the recording ended there without
  // the guest stopping by itself: a timeout, an interrupt, a halt).
  bool at_stop_point = false;
  std::optional<Hash128> final_state_hash;
};

class LogReplayer {
 public:
  // Reads the header. `until`: stop at the rendezvous of this ESN even if
  // the log goes on.
  static absl::StatusOr<std::unique_ptr<LogReplayer>> Open(
      const std::string& path, std::optional<uint64_t> until = std::nullopt);

  const RecordedMachine& machine() const { return machine_; }

  absl::Status CheckInitialState(const Hash128& state_hash);
  // Instead of CheckInitialState(): the replay starts from a restored
  // checkpoint at `esn`. Skips the log up to the recording's checkpoint at
  // that ESN and checks its state hash; the outputs before it are not
  // replayed (a checkpoint always closes every output digest).
  absl::Status ResumeAt(uint64_t esn, const Hash128& state_hash);
  absl::Status InputsAt(uint64_t esn, std::vector<InputEvent>& out);
  // The guest halted after exit `esn`, nothing woke it, and InputsAt(esn)
  // has nothing more: the recording did not stop here, so this is a
  // divergence. Returns it.
  absl::Status StuckHalted(uint64_t esn);
  // The faults the recording injected at the rendezvous after exit `esn`
  // (a test recording, see log.capnp's Fault), appended to `out`: apply
  // them there, before the state hash. A log without any has none.
  absl::Status FaultsAt(uint64_t esn, std::vector<LoggedFault>& out);
  void OnOutput(uint64_t esn, const DeviceOutput& output);
  absl::StatusOr<bool> CheckpointDue(uint64_t esn);
  absl::Status Rendezvous(uint64_t esn, std::optional<Hash128> state_hash);
  // True at the rendezvous where the recording ended (or `until`). Log
  // errors met while looking ahead are returned by the next call that can.
  bool StopHere(uint64_t esn);
  // Checks the end of the run against the End record. OK: everything the
  // replay could check was verified (see complete()).
  absl::Status Finish(const ReplayedEnd& end);

  // A divergence the caller found itself (e.g. its guest read a boundary
  // device the log has no value for). Returns it, like every other.
  absl::Status ReportDivergence(uint64_t esn, std::string what,
                                std::string expected, std::string actual);

  const std::optional<Divergence>& divergence() const { return divergence_; }
  const ReplayCounts& counts() const { return counts_; }
  // The End record, once read.
  const std::optional<LoggedEnd>& recorded_end() const { return end_; }
  // After Finish(): the whole recording was replayed and its final state
  // matched (false for a torn log, --until, or a final state that a
  // timeout made incomparable).
  bool complete() const { return complete_; }
  // Why the replay could not verify everything (torn log, --until, ...).
  const std::vector<std::string>& notes() const { return notes_; }
  const LogReader& reader() const { return reader_; }

 private:
  // The lookahead as TakeInputsAt walks it.
  class Lookahead;

  LogReplayer(LogReader reader, std::optional<uint64_t> until)
      : reader_(std::move(reader)), until_(until), digests_(DigestPolicy{}) {}
  // Loads the next record into next_ unless it is already there.
  absl::Status Fill();
  absl::Status Diverge(uint64_t esn, std::string what, std::string expected,
                       std::string actual);
  // Divergence if the log holds a record for an ESN before `esn` that the
  // replay did not meet.
  absl::Status CheckNothingMissedBefore(uint64_t esn);
  // That divergence: the replay went on to `esn` past the next record.
  absl::Status MissedBefore(uint64_t esn);
  // The next record is the recording's final digests or its End.
  bool NextEndsTheRun() const;
  // What the log expects next, for divergence reports.
  std::string DescribeNext() const;
  absl::Status CompareDigests(uint64_t esn, bool all, bool at_end);
  void Verified(uint64_t esn) {
    counts_.last_verified_esn = std::max(counts_.last_verified_esn, esn);
  }

  LogReader reader_;
  std::optional<uint64_t> until_;
  RecordedMachine machine_;
  OutputDigests digests_;
  std::optional<LogEntry> next_;
  bool eof_ = false;
  absl::Status lookahead_error_;
  uint64_t last_esn_ = 0;
  std::optional<LoggedEnd> end_;
  std::optional<Divergence> divergence_;
  ReplayCounts counts_;
  bool complete_ = false;
  std::vector<std::string> notes_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_LOG_REPLAYER_H_
