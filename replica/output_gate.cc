#include "replica/output_gate.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/check.h"
#include "base/hash128.h"

namespace xv {
namespace {

constexpr size_t kDescribeBytes = 32;

bool ValidSlot(int slot) { return slot >= 0 && slot < kGateSlots; }

// The sectors a disk write covers, when it is one the overlays track.
std::optional<uint32_t> WrittenSectors(const GateOutput& output) {
  if (output.kind != OutputKind::kDiskWrite || output.data.empty() ||
      output.data.size() % kSectorSize != 0) {
    return std::nullopt;
  }
  return static_cast<uint32_t>(output.data.size() / kSectorSize);
}

std::optional<size_t> FirstDifference(const std::vector<uint8_t>& a,
                                      const std::vector<uint8_t>& b) {
  if (a == b) return std::nullopt;
  const auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<size_t>(ia - a.begin());
}

std::string DescribeOrNone(const std::optional<GateOutput>& output) {
  return output ? output->Describe() : std::string("nothing");
}

}  // namespace

GateOutput GateOutput::Copy(uint64_t esn, const DeviceOutput& output) {
  return GateOutput{.esn = esn,
                    .kind = output.kind,
                    .device = std::string(output.device),
                    .arg = output.arg,
                    .count = output.count,
                    .data = {output.data.begin(), output.data.end()}};
}

DeviceOutput GateOutput::view() const {
  return DeviceOutput{
      .kind = kind, .device = device, .arg = arg, .count = count, .data = data};
}

std::string GateOutput::Describe() const {
  std::string s = absl::StrFormat("ESN %d %s %s arg=0x%x count=%d", esn, device,
                                  OutputKindName(kind), arg, count);
  if (data.empty()) return s;
  absl::StrAppendFormat(&s, " data[%d]=", data.size());
  const size_t shown = std::min(data.size(), kDescribeBytes);
  for (size_t i = 0; i < shown; ++i) {
    absl::StrAppendFormat(&s, "%s%02x", i == 0 ? "" : " ", data[i]);
  }
  if (shown < data.size()) {
    absl::StrAppendFormat(&s, " ... xxh3=%s", HashBytes(data).ToHex());
  }
  return s;
}

std::string_view DivergenceCauseName(DivergenceCause cause) {
  switch (cause) {
    case DivergenceCause::kMismatch:
      return "mismatch";
    case DivergenceCause::kHistoryMismatch:
      return "history_mismatch";
    case DivergenceCause::kMissingOutput:
      return "missing_output";
  }
  return "unknown";
}

std::string OutputDivergence::ToString() const {
  std::string s;
  const GateOutput* a = nullptr;  // the two sides whose data is compared
  const GateOutput* b = nullptr;
  switch (cause) {
    case DivergenceCause::kMismatch:
      s = absl::StrFormat(
          "output #%d differs at ESN %d: slot 0 submitted %s; slot 1 "
          "submitted %s",
          index, esn, DescribeOrNone(submitted[0]),
          DescribeOrNone(submitted[1]));
      if (submitted[0] && submitted[1]) {
        a = &*submitted[0];
        b = &*submitted[1];
      }
      break;
    case DivergenceCause::kHistoryMismatch: {
      const int replaying = submitted[0] ? 0 : 1;
      s = absl::StrFormat(
          "replayed output #%d differs at ESN %d: slot %d (replacement) "
          "submitted %s; released was %s",
          index, esn, replaying, DescribeOrNone(submitted[replaying]),
          DescribeOrNone(released));
      if (submitted[replaying] && released) {
        a = &*submitted[replaying];
        b = &*released;
      }
      break;
    }
    case DivergenceCause::kMissingOutput: {
      const int other = 1 - slot;
      const std::string source =
          released ? std::string("was released")
                   : absl::StrFormat("slot %d submitted", other);
      s = absl::StrFormat(
          "slot %d reached ESN %d without output #%d (ESN %d), which %s: %s",
          slot, reached_esn, index, esn, source,
          released ? released->Describe()
                   : DescribeOrNone(ValidSlot(other) ? submitted[other]
                                                     : std::nullopt));
      break;
    }
  }
  if (a != nullptr && b != nullptr && first_differing_byte) {
    const size_t i = *first_differing_byte;
    if (i < a->data.size() && i < b->data.size()) {
      absl::StrAppendFormat(&s, " (first differing data byte %d: %02x vs %02x)",
                            i, a->data[i], b->data[i]);
    } else {
      absl::StrAppendFormat(&s, " (data lengths differ: %d vs %d bytes)",
                            a->data.size(), b->data.size());
    }
  }
  return s;
}

OutputGate::OutputGate(OutputSink* sink, OutputGateOptions options)
    : sink_(sink), options_(std::move(options)) {
  XV_CHECK(sink_ != nullptr, "OutputGate needs a sink");
}

int64_t OutputGate::Now() const {
  if (options_.now_ns) return options_.now_ns();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status OutputGate::Submit(int slot, uint64_t esn,
                                const DeviceOutput& output) {
  if (!ValidSlot(slot)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("output gate: no replica slot %d", slot));
  }
  Submission submission{GateOutput::Copy(esn, output), Now()};
  absl::Status status;
  {
    absl::MutexLock lock(&mu_);
    ++submitted_[slot];
    pending_bytes_[slot] += submission.output.data.size();
    if (WrittenSectors(submission.output)) {
      disk_writes_[slot].Add(submission.output.arg, submission.output.data);
    }
    pending_[slot].push_back(std::move(submission));
    AdvanceLocked(slot);
    if (divergence_) status = AbortedLocked();
  }
  Deliver();
  return status;
}

absl::Status OutputGate::Reached(int slot, uint64_t esn) {
  if (!ValidSlot(slot)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("output gate: no replica slot %d", slot));
  }
  absl::MutexLock lock(&mu_);
  if (!reached_[slot] || esn > *reached_[slot]) reached_[slot] = esn;
  CheckMissingLocked(slot);
  return divergence_ ? AbortedLocked() : absl::OkStatus();
}

void OutputGate::ReplaceSlot(int slot) {
  XV_CHECK(ValidSlot(slot), "OutputGate::ReplaceSlot: no such slot");
  absl::MutexLock lock(&mu_);
  pending_[slot].clear();
  pending_bytes_[slot] = 0;
  reached_[slot].reset();
  disk_writes_[slot].Clear();
  // The replacement starts at the last verified checkpoint: it re-submits
  // every released output after it. (Older ones may still be kept for
  // another replacement that has not re-submitted them yet.)
  uint64_t start = history_base_;
  while (start < HistoryEndLocked() && verified_esn_ &&
         HistoryAtLocked(start).esn <= *verified_esn_) {
    ++start;
  }
  replay_next_[slot] = start < HistoryEndLocked()
                           ? std::optional<uint64_t>(start)
                           : std::nullopt;
}

void OutputGate::Verified(uint64_t esn) {
  absl::MutexLock lock(&mu_);
  if (!verified_esn_ || esn > *verified_esn_) verified_esn_ = esn;
  uint64_t keep_from = HistoryEndLocked();
  for (const std::optional<uint64_t>& next : replay_next_) {
    if (next) keep_from = std::min(keep_from, *next);
  }
  while (!history_.empty() && history_base_ < keep_from &&
         history_.front()->esn <= *verified_esn_) {
    history_bytes_ -= history_.front()->data.size();
    history_.pop_front();
    ++history_base_;
  }
}

void OutputGate::ClearDivergence() {
  {
    absl::MutexLock lock(&mu_);
    divergence_.reset();
    AdvanceLocked(-1);
  }
  Deliver();
}

std::optional<OutputDivergence> OutputGate::divergence() const {
  absl::MutexLock lock(&mu_);
  return divergence_;
}

bool OutputGate::diverged() const {
  absl::MutexLock lock(&mu_);
  return divergence_.has_value();
}

PendingDiskWrites OutputGate::PendingWritesSnapshot(int slot, uint64_t lba,
                                                    uint32_t count) const {
  XV_CHECK(ValidSlot(slot), "OutputGate::PendingWritesSnapshot: no such slot");
  absl::MutexLock lock(&mu_);
  return disk_writes_[slot].Snapshot(lba, count);
}

OutputGateStats OutputGate::stats() const {
  absl::MutexLock lock(&mu_);
  OutputGateStats s;
  s.submitted = submitted_;
  s.verified = HistoryEndLocked();
  s.released = delivered_;
  s.replayed = replayed_;
  for (int i = 0; i < kGateSlots; ++i) {
    s.pending[i] = pending_[i].size();
    s.pending_bytes[i] = pending_bytes_[i];
    s.replaying[i] = replay_next_[i].has_value();
  }
  s.history = history_.size();
  s.history_bytes = history_bytes_;
  s.diverged = divergence_.has_value();
  return s;
}

GateLatency OutputGate::latency() const {
  std::vector<int64_t> sorted = latency_samples();
  GateLatency l;
  l.samples = sorted.size();
  if (sorted.empty()) return l;
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest sample with at least p of them at or below.
  const auto rank = [&](size_t percent) {
    const size_t r = (sorted.size() * percent + 99) / 100;
    return sorted[std::max<size_t>(r, 1) - 1];
  };
  l.min_ns = sorted.front();
  l.median_ns = rank(50);
  l.p99_ns = rank(99);
  l.max_ns = sorted.back();
  return l;
}

std::vector<int64_t> OutputGate::latency_samples() const {
  absl::MutexLock lock(&mu_);
  std::vector<int64_t> samples;
  samples.reserve(latencies_.size());
  samples.insert(samples.end(),
                 latencies_.begin() + static_cast<ptrdiff_t>(latency_next_),
                 latencies_.end());
  samples.insert(samples.end(), latencies_.begin(),
                 latencies_.begin() + static_cast<ptrdiff_t>(latency_next_));
  return samples;
}

void OutputGate::AdvanceLocked(int actor) {
  if (divergence_) return;
  // A replacement's submissions first meet the outputs already released.
  for (int s = 0; s < kGateSlots; ++s) {
    while (replay_next_[s] && !pending_[s].empty()) {
      const uint64_t index = *replay_next_[s];
      const GateOutput& released = HistoryAtLocked(index);
      const GateOutput& output = pending_[s].front().output;
      if (output != released) {
        OutputDivergence d;
        d.cause = DivergenceCause::kHistoryMismatch;
        d.index = index;
        d.esn = std::min(output.esn, released.esn);
        d.slot = actor;
        d.submitted[s] = output;
        d.released = released;
        d.first_differing_byte = FirstDifference(output.data, released.data);
        divergence_ = std::move(d);
        return;
      }
      // Already in the back-end: the deliverer dropped it from the overlays
      // before this slot's replacement added it again.
      if (std::optional<uint32_t> n = WrittenSectors(released);
          n && index < delivered_) {
        disk_writes_[s].Released(released.arg, *n);
      }
      PopPendingLocked(s);
      ++replayed_;
      replay_next_[s] = index + 1 < HistoryEndLocked()
                            ? std::optional<uint64_t>(index + 1)
                            : std::nullopt;
    }
  }
  // Then the k-th output of one slot meets the k-th of the other.
  while (!replay_next_[0] && !replay_next_[1] && !pending_[0].empty() &&
         !pending_[1].empty()) {
    Submission& a = pending_[0].front();
    Submission& b = pending_[1].front();
    if (a.output != b.output) {
      OutputDivergence d;
      d.cause = DivergenceCause::kMismatch;
      d.index = HistoryEndLocked();
      d.esn = std::min(a.output.esn, b.output.esn);
      d.slot = actor;
      d.submitted = {a.output, b.output};
      d.first_differing_byte = FirstDifference(a.output.data, b.output.data);
      divergence_ = std::move(d);
      return;
    }
    const int64_t first_submit_ns = std::min(a.submit_ns, b.submit_ns);
    auto output = std::make_shared<const GateOutput>(std::move(a.output));
    pending_bytes_[0] -= output->data.size();
    pending_[0].pop_front();
    PopPendingLocked(1);
    history_bytes_ += output->data.size();
    history_.push_back(output);
    to_deliver_.push_back(ToDeliver{std::move(output), first_submit_ns});
  }
  for (int s = 0; s < kGateSlots; ++s) CheckMissingLocked(s);
}

void OutputGate::CheckMissingLocked(int slot) {
  if (divergence_ || !reached_[slot]) return;
  // The stream index of the next output `slot` will submit, and what is
  // already known to be there.
  const uint64_t next =
      replay_next_[slot].value_or(HistoryEndLocked()) + pending_[slot].size();
  const GateOutput* expected = nullptr;
  const int other = 1 - slot;
  if (next < HistoryEndLocked()) {
    expected = &HistoryAtLocked(next);
  } else {
    const uint64_t other_start =
        replay_next_[other].value_or(HistoryEndLocked());
    const uint64_t j = next - other_start;
    if (j < pending_[other].size()) expected = &pending_[other][j].output;
  }
  if (expected == nullptr || expected->esn > *reached_[slot]) return;
  OutputDivergence d;
  d.cause = DivergenceCause::kMissingOutput;
  d.index = next;
  d.esn = expected->esn;
  d.slot = slot;
  d.reached_esn = *reached_[slot];
  if (next < HistoryEndLocked()) {
    d.released = *expected;
  } else {
    d.submitted[other] = *expected;
  }
  divergence_ = std::move(d);
}

void OutputGate::PopPendingLocked(int slot) {
  pending_bytes_[slot] -= pending_[slot].front().output.data.size();
  pending_[slot].pop_front();
}

void OutputGate::RecordLatencyLocked(int64_t ns) {
  const size_t window = options_.latency_window;
  if (window == 0) return;
  if (latencies_.size() < window) {
    latencies_.push_back(ns);  // the oldest stays at index 0
    return;
  }
  latencies_[latency_next_] = ns;
  latency_next_ = (latency_next_ + 1) % window;
}

absl::Status OutputGate::AbortedLocked() const {
  return absl::AbortedError(
      absl::StrFormat("output gate diverged: %s", divergence_->ToString()));
}

void OutputGate::Deliver() {
  {
    absl::MutexLock lock(&mu_);
    if (delivering_ || to_deliver_.empty()) return;
    delivering_ = true;
  }
  std::vector<ToDeliver> batch;
  std::vector<int64_t> latencies;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      // The sink has the previous batch: account for it.
      for (size_t i = 0; i < batch.size(); ++i) {
        RecordLatencyLocked(latencies[i]);
        const GateOutput& output = *batch[i].output;
        if (std::optional<uint32_t> n = WrittenSectors(output)) {
          for (PendingDiskWrites& writes : disk_writes_) {
            writes.Released(output.arg, *n);
          }
        }
      }
      delivered_ += batch.size();
      batch.clear();
      latencies.clear();
      if (to_deliver_.empty()) {
        delivering_ = false;
        return;
      }
      batch.assign(std::make_move_iterator(to_deliver_.begin()),
                   std::make_move_iterator(to_deliver_.end()));
      to_deliver_.clear();
    }
    for (const ToDeliver& d : batch) {
      latencies.push_back(Now() - d.first_submit_ns);
      sink_->Emit(d.output->view());
    }
  }
}

}  // namespace xv
