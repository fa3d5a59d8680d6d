#include "replay/log_recorder.h"

#include <time.h>

#include "absl/strings/str_format.h"
#include "capnp/message.h"

namespace xv {
namespace {

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogRecorder>> LogRecorder::Create(
    const std::string& path, RecordedMachine machine,
    const RecorderOptions& options) {
  auto writer = LogWriter::Create(path, options.writer);
  if (!writer.ok()) return writer.status();
  machine.checkpoint_interval = options.checkpoint_interval;
  machine.output_digest_bytes = options.digests.max_bytes;
  machine.output_digest_exits = options.digests.max_exits;
  std::unique_ptr<LogRecorder> recorder(
      new LogRecorder(std::move(*writer), options));
  if (absl::Status s = recorder->Write(std::move(machine)); !s.ok()) return s;
  // The header alone makes a replayable (empty) log.
  if (absl::Status s = recorder->writer_.Flush(); !s.ok()) return s;
  return recorder;
}

LogRecorder::LogRecorder(LogWriter writer, const RecorderOptions& options)
    : writer_(std::move(writer)),
      interval_(options.checkpoint_interval),
      flush_interval_ns_(options.flush_interval_ns),
      last_flush_ns_(MonotonicNs()),
      digests_(options.digests) {}

absl::Status LogRecorder::Write(const LogEntry& entry) {
  capnp::MallocMessageBuilder message;
  BuildRecord(entry, message.initRoot<log::Record>());
  return writer_.Append(message);
}

absl::Status LogRecorder::MaybeFlush() {
  const uint64_t now = MonotonicNs();
  if (now - last_flush_ns_ < flush_interval_ns_) return absl::OkStatus();
  last_flush_ns_ = now;
  return writer_.Flush();
}

absl::Status LogRecorder::RecordFault(const LoggedFault& fault) {
  return Write(fault);
}

absl::Status LogRecorder::RecordInput(uint64_t esn, const InputEvent& input) {
  ++stats_.inputs;
  return Write(LoggedInput{esn, input});
}

void LogRecorder::RecordOutput(uint64_t esn, const DeviceOutput& output) {
  ++stats_.outputs;
  digests_.Add(esn, output);
}

absl::Status LogRecorder::Rendezvous(uint64_t esn,
                                     std::optional<Hash128> state_hash) {
  const bool checkpoint = CheckpointDue(esn);
  if (checkpoint != state_hash.has_value()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rendezvous at ESN %d: a state hash is %s", esn,
        checkpoint ? "due but missing" : "given but no checkpoint is due"));
  }
  // The checkpoint goes first: a replayer must know of it before it
  // compares the digests it caused.
  if (checkpoint) {
    ++stats_.checkpoints;
    if (absl::Status s = Write(LoggedCheckpoint{esn, *state_hash}); !s.ok()) {
      return s;
    }
  }
  if (!digests_.empty()) {
    for (LoggedDigest& d : digests_.TakeDue(esn, checkpoint)) {
      ++stats_.digests;
      if (absl::Status s = Write(std::move(d)); !s.ok()) return s;
    }
  }
  if (checkpoint) return writer_.Flush();
  return MaybeFlush();
}

absl::Status LogRecorder::Finish(const LoggedEnd& end) {
  if (finished_) return absl::FailedPreconditionError("log already finished");
  finished_ = true;
  for (LoggedDigest& d : digests_.TakeDue(end.esn, /*all=*/true)) {
    d.at_end = true;
    ++stats_.digests;
    if (absl::Status s = Write(std::move(d)); !s.ok()) return s;
  }
  if (absl::Status s = Write(end); !s.ok()) return s;
  return writer_.Close();
}

}  // namespace xv
