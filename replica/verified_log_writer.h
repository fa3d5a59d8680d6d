// VerifiedLogWriter: `xvirt replicate --record LOG` — the nondeterminism
// log of a replicated run, written only from what the replicas verified, so
// it replays with `xvirt replay` like a recording of a plain run.
//
// The live log between the replicas can still change after the fact (a
// faulty leader's last inputs are cut and re-queued when it is voted out),
// so nothing goes to the file before a checkpoint verified it: at each
// verified checkpoint the inputs and outputs up to it are written, ESN by
// ESN, in the order a plain recording writes them (the exit's outputs, its
// inputs, its rendezvous with the state hash where one is due).
#ifndef EXTRAVIRT_REPLICA_VERIFIED_LOG_WRITER_H_
#define EXTRAVIRT_REPLICA_VERIFIED_LOG_WRITER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replay/log_recorder.h"
#include "replica/output_gate.h"
#include "replica/retained_log.h"

namespace xv {

struct ReplicaRecording {
  std::string path;
  // Kernel name, image and command line; the rest is filled in from the
  // machine (DescribeRecordedMachine).
  RecordedMachine machine;
  RecorderOptions options;
};

class VerifiedLogWriter {
 public:
  // Writes the header; `machine` is the leader, booted, before the run.
  static absl::StatusOr<std::unique_ptr<VerifiedLogWriter>> Create(
      Machine& machine, ReplicaRecording recording);

  // Everything through exit `esn` is verified: writes the inputs and
  // outputs after the last call up to it. `state_hash` is the verified
  // state there, logged when the recorder's interval makes it due.
  absl::Status WriteThrough(uint64_t esn,
                            const std::vector<RetainedInput>& inputs,
                            const std::vector<GateOutput>& outputs,
                            const Hash128& state_hash);
  // The run ended (`end_rendezvous`: the rendezvous of the last exit was
  // done, as after a timeout): the rest and the End record.
  absl::Status Finish(const RunResult& result,
                      const std::vector<RetainedInput>& inputs,
                      const std::vector<GateOutput>& outputs,
                      bool end_rendezvous,
                      std::optional<Hash128> final_state_hash);

  const RecorderStats& stats() const { return log_->stats(); }

 private:
  explicit VerifiedLogWriter(std::unique_ptr<LogRecorder> log)
      : log_(std::move(log)) {}
  // Exits (written_, last] with their outputs and inputs; the rendezvous of
  // each one up to `rendezvous_through`.
  absl::Status Write(uint64_t last, uint64_t rendezvous_through,
                     const std::vector<RetainedInput>& inputs,
                     const std::vector<GateOutput>& outputs,
                     std::optional<Hash128> state_hash_at_last);

  std::unique_ptr<LogRecorder> log_;
  uint64_t written_ = 0;  // every exit up to here is in the log
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_VERIFIED_LOG_WRITER_H_
