// TakeInputsAt: the one rule by which a replica gets its logged inputs
// (DESIGN §2, §3). A log holds inputs in ESN order; after exit `esn` a
// replica takes exactly those logged at `esn`, in log order, and the walk
// never goes back. Something logged at an ESN the replica already passed
// was missed: its inputs would land at the wrong exit, so it is an error.
//
// Three readers walk logs this way: the replayer (LogReplayer::InputsAt,
// over the log file, where checkpoints and digests sit between the inputs),
// a follower (RetainedLog::Take) and a third replica rebuilt for a vote
// (ReplayToVotePoint), both over the retained log in memory. Each says what
// a missed input means for it; the walk is the same.
#ifndef EXTRAVIRT_REPLAY_INPUTS_AT_ESN_H_
#define EXTRAVIRT_REPLAY_INPUTS_AT_ESN_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "machine/input_event.h"

namespace xv {

// The next item of a log, as the walk sees it.
struct NextLogged {
  uint64_t esn = 0;
  // False for a record that is not an input (a checkpoint, a digest): the
  // walk stops at it, but it too must not lie before the exit asked for.
  bool is_input = true;
};

// A log read front to back in ESN order.
class LoggedInputs {
 public:
  virtual ~LoggedInputs() = default;
  // The next item, without moving past it; nullopt when there is none.
  virtual absl::StatusOr<std::optional<NextLogged>> Peek() = 0;
  // Appends the input Peek() just returned to `out` and moves past it.
  virtual void TakeInput(std::vector<InputEvent>& out) = 0;
};

// Appends to `out` the inputs `log` holds at exit `esn`, in log order, and
// moves past them; stops at the first item logged after `esn`, at one that
// is no input, or at the end. An item logged before `esn` was passed: the
// walk stops there and returns `missed(its ESN)`, the caller's error. Errors
// of `log` itself are returned as they are.
absl::Status TakeInputsAt(LoggedInputs& log, uint64_t esn,
                          std::vector<InputEvent>& out,
                          absl::FunctionRef<absl::Status(uint64_t)> missed);

// LoggedInputs over `entries` held in memory (a std::vector or std::deque
// of items with `esn` and `input`, all inputs), from index `next` on.
// Taking an input copies it and advances `next`, which the caller keeps.
template <typename Entries>
class InputsInMemory final : public LoggedInputs {
 public:
  InputsInMemory(const Entries& entries, size_t& next)
      : entries_(entries), next_(next) {}

  absl::StatusOr<std::optional<NextLogged>> Peek() override {
    if (next_ >= entries_.size()) return std::nullopt;
    return NextLogged{.esn = entries_[next_].esn};
  }
  void TakeInput(std::vector<InputEvent>& out) override {
    out.push_back(entries_[next_].input);
    ++next_;
  }

 private:
  const Entries& entries_;
  size_t& next_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_INPUTS_AT_ESN_H_
