#include "replica/run_recording.h"

namespace xv::replica_internal {

void RunRecording::WriteThrough(uint64_t esn,
                                const std::vector<RetainedInput>& inputs,
                                const std::vector<GateOutput>& outputs,
                                const Hash128& state_hash) {
  if (!writer_) return;
  absl::Status s = writer_->WriteThrough(esn, inputs, outputs, state_hash);
  if (!s.ok()) {
    error_ = s;
    writer_.reset();
  }
}

absl::Status RunRecording::FinishAtCheckpoint(uint64_t esn,
                                              const Hash128& state_hash) {
  if (!error_.ok()) return error_;
  RunResult r;
  r.reason = StopReason::kStopPoint;
  r.esn = esn;
  r.exit_status = StopExitStatus(r.reason, 0);
  r.message = "stopped at the last verified checkpoint";
  return writer_->Finish(r, {}, {}, /*end_rendezvous=*/true, state_hash);
}

absl::Status RunRecording::FinishRun(const RunResult& result,
                                     const std::vector<RetainedInput>& inputs,
                                     const std::vector<GateOutput>& outputs,
                                     bool end_rendezvous,
                                     std::optional<Hash128> final_state_hash) {
  if (!error_.ok()) return error_;
  return writer_->Finish(result, inputs, outputs, end_rendezvous,
                         final_state_hash);
}

}  // namespace xv::replica_internal
