#include "replica/verified_log_writer.h"

#include "absl/strings/str_format.h"
#include "machine/stop_reason.h"
#include "replay/machine_recorder.h"

namespace xv {

absl::StatusOr<std::unique_ptr<VerifiedLogWriter>> VerifiedLogWriter::Create(
    Machine& machine, ReplicaRecording recording) {
  if (absl::Status s = DescribeRecordedMachine(machine, recording.machine);
      !s.ok()) {
    return s;
  }
  auto log = LogRecorder::Create(recording.path, std::move(recording.machine),
                                 recording.options);
  if (!log.ok()) return log.status();
  return std::unique_ptr<VerifiedLogWriter>(
      new VerifiedLogWriter(std::move(*log)));
}

absl::Status VerifiedLogWriter::Write(uint64_t last,
                                      uint64_t rendezvous_through,
                                      const std::vector<RetainedInput>& inputs,
                                      const std::vector<GateOutput>& outputs,
                                      std::optional<Hash128> hash_at_last) {
  size_t in = 0, out = 0;
  while (in < inputs.size() && inputs[in].esn <= written_) ++in;
  while (out < outputs.size() && outputs[out].esn <= written_) ++out;
  for (uint64_t esn = written_ + 1; esn <= last; ++esn) {
    for (; out < outputs.size() && outputs[out].esn == esn; ++out) {
      log_->RecordOutput(esn, outputs[out].view());
    }
    for (; in < inputs.size() && inputs[in].esn == esn; ++in) {
      if (absl::Status s = log_->RecordInput(esn, inputs[in].input); !s.ok()) {
        return s;
      }
    }
    if (esn > rendezvous_through) continue;
    std::optional<Hash128> hash;
    if (log_->CheckpointDue(esn)) {
      if (esn != last || !hash_at_last) {
        return absl::InternalError(absl::StrFormat(
            "recording: a checkpoint is due at ESN %d, which was not verified",
            esn));
      }
      hash = hash_at_last;
    }
    if (absl::Status s = log_->Rendezvous(esn, hash); !s.ok()) return s;
  }
  written_ = last;
  return absl::OkStatus();
}

absl::Status VerifiedLogWriter::WriteThrough(
    uint64_t esn, const std::vector<RetainedInput>& inputs,
    const std::vector<GateOutput>& outputs, const Hash128& state_hash) {
  if (esn <= written_) return absl::OkStatus();
  return Write(esn, esn, inputs, outputs, state_hash);
}

absl::Status VerifiedLogWriter::Finish(
    const RunResult& result, const std::vector<RetainedInput>& inputs,
    const std::vector<GateOutput>& outputs, bool end_rendezvous,
    std::optional<Hash128> final_state_hash) {
  const uint64_t rendezvous_through =
      end_rendezvous ? result.esn : result.esn - 1;
  // A checkpoint due at the very end was verified with the final state.
  if (absl::Status s = Write(result.esn, rendezvous_through, inputs, outputs,
                             final_state_hash);
      !s.ok()) {
    return s;
  }
  return log_->Finish({
      .esn = result.esn,
      .exit_status = result.exit_status,
      .stop_reason = std::string(StopReasonName(result.reason)),
      .debug_exit_value = result.debug_exit_value,
      .final_state_hash = final_state_hash,
      .exits = result.esn,
      .wall_seconds = result.wall_seconds,
  });
}

}  // namespace xv
