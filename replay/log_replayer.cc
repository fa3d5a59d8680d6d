#include "replay/log_replayer.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "replay/inputs_at_esn.h"

namespace xv {
namespace {

std::string DescribeDigest(const LoggedDigest& d) {
  return absl::StrFormat("%d outputs, %d bytes, digest %s", d.outputs, d.bytes,
                         d.hash.ToHex());
}

// Recorded stop reasons a replay reproduces by stopping where the log ends:
// the guest did not stop by itself, the host stopped it.
bool HostEndedRecording(std::string_view reason) {
  return reason == "interrupted" || reason == "timeout" ||
         reason == "halted_forever" || reason == "stop_point";
}

}  // namespace

absl::StatusOr<std::unique_ptr<LogReplayer>> LogReplayer::Open(
    const std::string& path, std::optional<uint64_t> until) {
  auto reader = LogReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::unique_ptr<LogReplayer> replayer(
      new LogReplayer(std::move(*reader), until));
  if (absl::Status s = replayer->Fill(); !s.ok()) return s;
  auto* header = replayer->next_
                     ? std::get_if<RecordedMachine>(&*replayer->next_)
                     : nullptr;
  if (header == nullptr) {
    return absl::DataLossError(
        absl::StrFormat("%s: the log does not start with a header", path));
  }
  replayer->machine_ = std::move(*header);
  replayer->next_.reset();
  replayer->digests_ =
      OutputDigests({.max_bytes = replayer->machine_.output_digest_bytes,
                     .max_exits = replayer->machine_.output_digest_exits});
  return replayer;
}

absl::Status LogReplayer::Fill() {
  if (!lookahead_error_.ok()) return lookahead_error_;
  if (next_ || eof_) return absl::OkStatus();
  auto view = reader_.Next();
  if (!view.ok()) return lookahead_error_ = view.status();
  if (*view == nullptr) {
    eof_ = true;
    return absl::OkStatus();
  }
  auto entry = ParseRecordAt(reader_, **view);
  if (!entry.ok()) return lookahead_error_ = entry.status();
  const uint64_t esn = EntryEsn(*entry);
  if (esn < last_esn_) {
    return lookahead_error_ = absl::DataLossError(absl::StrFormat(
               "%s: record %d (frame at byte %d) goes back from ESN %d to %d",
               reader_.name(), (*view)->index, (*view)->frame_offset, last_esn_,
               esn));
  }
  last_esn_ = esn;
  if (const auto* end = std::get_if<LoggedEnd>(&*entry)) end_ = *end;
  next_ = std::move(*entry);
  return absl::OkStatus();
}

absl::Status LogReplayer::Diverge(uint64_t esn, std::string what,
                                  std::string expected, std::string actual) {
  if (!divergence_) {
    divergence_ = Divergence{.esn = esn,
                             .what = std::move(what),
                             .expected = std::move(expected),
                             .actual = std::move(actual),
                             .last_verified_esn = counts_.last_verified_esn};
  }
  return absl::AbortedError(absl::StrFormat(
      "replay diverged at ESN %d: %s: expected %s, got %s", divergence_->esn,
      divergence_->what, divergence_->expected, divergence_->actual));
}

absl::Status LogReplayer::CheckInitialState(const Hash128& state_hash) {
  if (state_hash != machine_.initial_state_hash) {
    return Diverge(0, "initial state", machine_.initial_state_hash.ToHex(),
                   state_hash.ToHex());
  }
  return absl::OkStatus();
}

absl::Status LogReplayer::ResumeAt(uint64_t esn, const Hash128& state_hash) {
  for (;;) {
    if (absl::Status s = Fill(); !s.ok()) return s;
    if (!next_ || EntryEsn(*next_) > esn ||
        std::holds_alternative<LoggedEnd>(*next_)) {
      return absl::NotFoundError(absl::StrFormat(
          "%s has no checkpoint at ESN %d to start from", reader_.name(), esn));
    }
    const auto* c = std::get_if<LoggedCheckpoint>(&*next_);
    const bool found = c != nullptr && c->esn == esn;
    const Hash128 expected = found ? c->state_hash : Hash128{};
    next_.reset();
    if (!found) continue;
    if (expected != state_hash) {
      return Diverge(esn, "state hash of the checkpoint started from",
                     expected.ToHex(), state_hash.ToHex());
    }
    // The digests the recording closed at this checkpoint cover outputs
    // made before it.
    for (;;) {
      if (absl::Status s = Fill(); !s.ok()) return s;
      const auto* d = next_ ? std::get_if<LoggedDigest>(&*next_) : nullptr;
      if (d == nullptr || d->esn != esn || d->at_end) break;
      next_.reset();
    }
    ++counts_.checkpoints;
    Verified(esn);
    return absl::OkStatus();
  }
}

std::string LogReplayer::DescribeNext() const {
  if (!next_) return "the end of the log";
  if (NextEndsTheRun()) {
    return absl::StrFormat("the run to end at ESN %d, as recorded",
                           EntryEsn(*next_));
  }
  return absl::StrFormat("the recording's %s at ESN %d", EntryKindName(*next_),
                         EntryEsn(*next_));
}

absl::Status LogReplayer::CheckNothingMissedBefore(uint64_t esn) {
  if (absl::Status s = Fill(); !s.ok()) return s;
  if (next_ && !std::holds_alternative<LoggedEnd>(*next_) &&
      EntryEsn(*next_) < esn) {
    return MissedBefore(esn);
  }
  return absl::OkStatus();
}

absl::Status LogReplayer::MissedBefore(uint64_t esn) {
  return Diverge(esn, "exit sequence", DescribeNext(),
                 absl::StrFormat("the replay went on to ESN %d", esn));
}

// The End record is left out of the walk, as CheckNothingMissedBefore
// leaves it out: where the run ended is for Finish to check, and is no
// missed input.
class LogReplayer::Lookahead final : public LoggedInputs {
 public:
  explicit Lookahead(LogReplayer& replayer) : replayer_(replayer) {}

  absl::StatusOr<std::optional<NextLogged>> Peek() override {
    if (absl::Status s = replayer_.Fill(); !s.ok()) return s;
    const std::optional<LogEntry>& next = replayer_.next_;
    if (!next || std::holds_alternative<LoggedEnd>(*next)) return std::nullopt;
    return NextLogged{.esn = EntryEsn(*next),
                      .is_input = std::holds_alternative<LoggedInput>(*next)};
  }
  void TakeInput(std::vector<InputEvent>& out) override {
    out.push_back(std::move(std::get<LoggedInput>(*replayer_.next_).input));
    ++replayer_.counts_.inputs;
    replayer_.next_.reset();
  }

 private:
  LogReplayer& replayer_;
};

absl::Status LogReplayer::InputsAt(uint64_t esn, std::vector<InputEvent>& out) {
  if (divergence_) return Diverge(esn, "", "", "");
  Lookahead log(*this);
  return TakeInputsAt(log, esn, out,
                      [&](uint64_t) { return MissedBefore(esn); });
}

absl::Status LogReplayer::StuckHalted(uint64_t esn) {
  if (absl::Status s = Fill(); !s.ok()) return s;
  return Diverge(esn, "halt", "the guest to run on to " + DescribeNext(),
                 "the guest halted waiting for an interrupt, and the log "
                 "holds no input that wakes it at this exit");
}

absl::Status LogReplayer::FaultsAt(uint64_t esn,
                                   std::vector<LoggedFault>& out) {
  if (divergence_) return Diverge(esn, "", "", "");
  for (;;) {
    if (absl::Status s = Fill(); !s.ok()) return s;
    const auto* f = next_ ? std::get_if<LoggedFault>(&*next_) : nullptr;
    if (f == nullptr || f->esn != esn) return absl::OkStatus();
    out.push_back(*f);
    next_.reset();
  }
}

void LogReplayer::OnOutput(uint64_t esn, const DeviceOutput& output) {
  digests_.Add(esn, output);
}

absl::StatusOr<bool> LogReplayer::CheckpointDue(uint64_t esn) {
  if (absl::Status s = CheckNothingMissedBefore(esn); !s.ok()) return s;
  if (next_) {
    if (auto* in = std::get_if<LoggedInput>(&*next_); in && in->esn == esn) {
      return Diverge(esn, "input",
                     absl::StrFormat("%s %s", InputKindName(in->input.kind),
                                     InputDetail(in->input)),
                     "the replay did not take it at this exit");
    }
  }
  auto* c = next_ ? std::get_if<LoggedCheckpoint>(&*next_) : nullptr;
  return c != nullptr && c->esn == esn;
}

absl::Status LogReplayer::CompareDigests(uint64_t esn, bool all, bool at_end) {
  std::vector<std::string> previews;
  std::vector<LoggedDigest> due = digests_.TakeDue(esn, all, &previews);
  std::vector<bool> matched(due.size(), false);
  for (;;) {
    if (absl::Status s = Fill(); !s.ok()) return s;
    auto* d = next_ ? std::get_if<LoggedDigest>(&*next_) : nullptr;
    if (d == nullptr || d->esn != esn || d->at_end != at_end) break;
    auto it = std::find_if(due.begin(), due.end(), [d](const LoggedDigest& x) {
      return x.device == d->device;
    });
    if (it == due.end()) {
      return Diverge(esn, absl::StrFormat("output of %s", d->device),
                     DescribeDigest(*d),
                     "no output from it since its previous digest");
    }
    const size_t i = it - due.begin();
    if (it->hash != d->hash || it->outputs != d->outputs ||
        it->bytes != d->bytes) {
      return Diverge(esn, absl::StrFormat("output of %s", d->device),
                     DescribeDigest(*d),
                     absl::StrFormat("%s, beginning \"%s\"",
                                     DescribeDigest(*it), previews[i]));
    }
    matched[i] = true;
    counts_.outputs += d->outputs;
    ++counts_.digests;
    next_.reset();
  }
  for (size_t i = 0; i < due.size(); ++i) {
    if (!matched[i]) {
      return Diverge(esn, absl::StrFormat("output of %s", due[i].device),
                     "no output from it at this point",
                     absl::StrFormat("%s, beginning \"%s\"",
                                     DescribeDigest(due[i]), previews[i]));
    }
  }
  return absl::OkStatus();
}

absl::Status LogReplayer::Rendezvous(uint64_t esn,
                                     std::optional<Hash128> state_hash) {
  if (divergence_) return Diverge(esn, "", "", "");
  auto due = CheckpointDue(esn);
  if (!due.ok()) return due.status();
  if (*due != state_hash.has_value()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "rendezvous at ESN %d: a state hash is %s", esn,
        *due ? "due but missing" : "given but no checkpoint is due"));
  }
  if (*due) {
    const Hash128 expected = std::get<LoggedCheckpoint>(*next_).state_hash;
    next_.reset();
    if (expected != *state_hash) {
      return Diverge(esn, "state hash", expected.ToHex(), state_hash->ToHex());
    }
    ++counts_.checkpoints;
    Verified(esn);
  }
  return CompareDigests(esn, /*all=*/*due, /*at_end=*/false);
}

bool LogReplayer::NextEndsTheRun() const {
  if (!next_) return false;
  const auto* d = std::get_if<LoggedDigest>(&*next_);
  return std::holds_alternative<LoggedEnd>(*next_) || (d && d->at_end);
}

bool LogReplayer::StopHere(uint64_t esn) {
  if (until_ && esn >= *until_) return true;
  if (!Fill().ok()) return true;  // the next call reports the error
  if (NextEndsTheRun()) return esn >= EntryEsn(*next_);
  // A log without End (torn tail): replay as far as it goes.
  return eof_ && esn >= last_esn_;
}

absl::Status LogReplayer::ReportDivergence(uint64_t esn, std::string what,
                                           std::string expected,
                                           std::string actual) {
  return Diverge(esn, std::move(what), std::move(expected), std::move(actual));
}

absl::Status LogReplayer::Finish(const ReplayedEnd& end) {
  if (divergence_) return Diverge(end.esn, "", "", "");
  if (absl::Status s = Fill(); !s.ok()) return s;
  // The recording ends here when what follows is its final digests or End.
  auto ends_here = [&] {
    return NextEndsTheRun() && EntryEsn(*next_) == end.esn;
  };
  auto torn = [&] {
    notes_.push_back(absl::StrFormat(
        "the log has no End record (the recorder was stopped before it "
        "finished%s): verified up to ESN %d",
        reader_.torn_tail() ? ", leaving a torn tail" : "",
        counts_.last_verified_esn));
    return absl::OkStatus();
  };
  if (!ends_here()) {
    if (eof_) return torn();
    if (until_ && end.at_stop_point && end.esn >= *until_) {
      notes_.push_back(absl::StrFormat(
          "stopped at ESN %d as asked (--until); the recording goes on",
          end.esn));
      return absl::OkStatus();
    }
    return Diverge(end.esn, "end of run", DescribeNext(),
                   absl::StrFormat("the replay ended (%s) at ESN %d",
                                   end.stop_reason, end.esn));
  }
  if (absl::Status s = CompareDigests(end.esn, /*all=*/true, /*at_end=*/true);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Fill(); !s.ok()) return s;
  if (!end_) return torn();
  const LoggedEnd& want = *end_;
  if (end.esn != want.esn) {
    return Diverge(end.esn, "end of run",
                   absl::StrFormat("%s at ESN %d", want.stop_reason, want.esn),
                   absl::StrFormat("%s at ESN %d", end.stop_reason, end.esn));
  }
  if (end.at_stop_point ? !HostEndedRecording(want.stop_reason)
                        : (end.stop_reason != want.stop_reason ||
                           end.exit_status != want.exit_status ||
                           end.debug_exit_value != want.debug_exit_value)) {
    return Diverge(end.esn, "end of run",
                   absl::StrFormat("%s, exit status %d", want.stop_reason,
                                   want.exit_status),
                   absl::StrFormat("%s, exit status %d", end.stop_reason,
                                   end.exit_status));
  }
  if (!want.final_state_hash) {
    notes_.push_back(
        "the recording stopped between two exits (a timeout or an "
        "interrupt while the guest computed): its final state depends on "
        "host timing and is not compared");
    return absl::OkStatus();
  }
  if (end.final_state_hash) {
    if (*end.final_state_hash != *want.final_state_hash) {
      return Diverge(end.esn, "final state hash",
                     want.final_state_hash->ToHex(),
                     end.final_state_hash->ToHex());
    }
    Verified(end.esn);
    complete_ = true;
  }
  return absl::OkStatus();
}

}  // namespace xv
