// RunRecording: `replicate --record` as the replica manager drives it —
// the VerifiedLogWriter written through at each verified checkpoint and
// finished when the run ends. A write error must not stop the replicas
// (the run is still correct), so it only loses the recording: nothing more
// is written and the end returns the error. Internal to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_RUN_RECORDING_H_
#define EXTRAVIRT_REPLICA_RUN_RECORDING_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "base/hash128.h"
#include "machine/run_loop.h"
#include "replica/output_gate.h"
#include "replica/retained_log.h"
#include "replica/verified_log_writer.h"

namespace xv::replica_internal {

class RunRecording {
 public:
  explicit RunRecording(std::unique_ptr<VerifiedLogWriter> writer)
      : writer_(std::move(writer)) {}

  // Everything through the verified checkpoint at `esn`.
  void WriteThrough(uint64_t esn, const std::vector<RetainedInput>& inputs,
                    const std::vector<GateOutput>& outputs,
                    const Hash128& state_hash);
  // The run did not end verified (fail-safe, interrupted): the log ends at
  // the last verified checkpoint, `esn`, so that it holds only what was
  // verified.
  absl::Status FinishAtCheckpoint(uint64_t esn, const Hash128& state_hash);
  // The run ended verified: the rest of it and its end.
  absl::Status FinishRun(const RunResult& result,
                         const std::vector<RetainedInput>& inputs,
                         const std::vector<GateOutput>& outputs,
                         bool end_rendezvous,
                         std::optional<Hash128> final_state_hash);
  const RecorderStats& stats() const { return writer_->stats(); }

 private:
  std::unique_ptr<VerifiedLogWriter> writer_;  // null once an error lost it
  absl::Status error_;
};

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_RUN_RECORDING_H_
