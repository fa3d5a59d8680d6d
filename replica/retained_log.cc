#include "replica/retained_log.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/check.h"
#include "replay/inputs_at_esn.h"

namespace xv {

void RetainedLog::Append(uint64_t esn, const InputEvent& input) {
  absl::MutexLock lock(&mu_);
  XV_CHECK(entries_.empty() || entries_.back().esn <= esn,
           "inputs appended out of ESN order");
  entries_.push_back({esn, input});
}

void RetainedLog::MarkCheckpoint(uint64_t esn) {
  absl::MutexLock lock(&mu_);
  checkpoints_.insert(esn);
}

bool RetainedLog::IsCheckpoint(uint64_t esn) const {
  absl::MutexLock lock(&mu_);
  return checkpoints_.contains(esn);
}

std::optional<uint64_t> RetainedLog::FirstCheckpointAfter(uint64_t esn) const {
  absl::MutexLock lock(&mu_);
  auto it = checkpoints_.upper_bound(esn);
  if (it == checkpoints_.end()) return std::nullopt;
  return *it;
}

void RetainedLog::Finalize(uint64_t esn) {
  absl::MutexLock lock(&mu_);
  finalized_ = std::max(finalized_, esn);
}

void RetainedLog::Finish() {
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

uint64_t RetainedLog::finalized() const {
  absl::MutexLock lock(&mu_);
  return finalized_;
}

bool RetainedLog::WaitForRoom() {
  absl::MutexLock lock(&mu_);
  auto has_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (aborted_) return true;
    const uint64_t end = base_ + entries_.size();
    for (const auto& [id, r] : readers_) {
      if (end - r.position > capacity_) return false;
    }
    return true;
  };
  mu_.Await(absl::Condition(&has_room));
  return !aborted_;
}

int RetainedLog::AddReader(uint64_t position) {
  absl::MutexLock lock(&mu_);
  XV_CHECK(position >= base_ && position <= base_ + entries_.size(),
           "log position out of range");
  readers_[next_reader_] = Reader{.position = position};
  return next_reader_++;
}

void RetainedLog::RemoveReader(int reader) {
  absl::MutexLock lock(&mu_);
  readers_.erase(reader);
}

uint64_t RetainedLog::position(int reader) const {
  absl::MutexLock lock(&mu_);
  return readers_.at(reader).position;
}

absl::Status RetainedLog::Take(int reader, uint64_t esn,
                               std::vector<InputEvent>& out) {
  absl::MutexLock lock(&mu_);
  Reader& r = readers_.at(reader);
  auto ready = [this, esn]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return aborted_ || finished_ || finalized_ >= esn;
  };
  if (!ready()) {
    r.waiting = true;
    r.since = absl::Now();
    mu_.Await(absl::Condition(&ready));
    r.waiting = false;
  }
  if (aborted_) return absl::AbortedError("the log was stopped");
  size_t next = r.position - base_;
  InputsInMemory inputs(entries_, next);
  absl::Status s = TakeInputsAt(inputs, esn, out, [esn](uint64_t missed) {
    return absl::InternalError(absl::StrFormat(
        "a replica at ESN %d missed the leader's input at ESN %d", esn,
        missed));
  });
  r.position = base_ + next;
  return s;
}

bool RetainedLog::waiting_for_leader(int reader, absl::Time* since) const {
  absl::MutexLock lock(&mu_);
  auto it = readers_.find(reader);
  if (it == readers_.end() || !it->second.waiting) return false;
  *since = it->second.since;
  return true;
}

std::vector<RetainedInput> RetainedLog::EntriesFrom(uint64_t position) const {
  absl::MutexLock lock(&mu_);
  XV_CHECK(position >= base_, "log position already trimmed");
  return {entries_.begin() + static_cast<ptrdiff_t>(position - base_),
          entries_.end()};
}

uint64_t RetainedLog::Begin() const {
  absl::MutexLock lock(&mu_);
  return base_;
}

uint64_t RetainedLog::End() const {
  absl::MutexLock lock(&mu_);
  return base_ + entries_.size();
}

void RetainedLog::TrimThrough(uint64_t esn) {
  absl::MutexLock lock(&mu_);
  while (!entries_.empty() && entries_.front().esn <= esn) {
    entries_.pop_front();
    ++base_;
  }
  checkpoints_.erase(checkpoints_.begin(), checkpoints_.upper_bound(esn));
  for (auto& [id, r] : readers_) r.position = std::max(r.position, base_);
}

std::vector<InputEvent> RetainedLog::TruncateAt(uint64_t position,
                                                uint64_t finalized_esn,
                                                uint64_t marks_through) {
  absl::MutexLock lock(&mu_);
  XV_CHECK(position >= base_ && position <= base_ + entries_.size(),
           "log position out of range");
  std::vector<InputEvent> cut;
  for (uint64_t i = position - base_; i < entries_.size(); ++i) {
    cut.push_back(std::move(entries_[i].input));
  }
  entries_.resize(position - base_);
  checkpoints_.erase(checkpoints_.upper_bound(marks_through),
                     checkpoints_.end());
  finalized_ = finalized_esn;
  finished_ = false;
  for (auto& [id, r] : readers_) r.position = std::min(r.position, position);
  return cut;
}

void RetainedLog::Abort() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
}

void RetainedLog::Resume() {
  absl::MutexLock lock(&mu_);
  aborted_ = false;
}

}  // namespace xv
