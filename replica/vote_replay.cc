#include "replica/vote_replay.h"

#include "absl/strings/str_format.h"
#include "replay/inputs_at_esn.h"

namespace xv {
namespace {

// C's inputs: the retained log, from the checkpoint on.
class ReplaySource : public InputSource {
 public:
  ReplaySource(std::vector<RetainedInput> entries, const VotePoint& point)
      : entries_(std::move(entries)), point_(point) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    if (point_.before_inputs_of && m.esn() >= *point_.before_inputs_of) {
      reached_point_ = true;
      return absl::AbortedError("vote point");
    }
    return Take(m.esn(), out);
  }
  absl::Status WaitForWakeup(const Machine& m, uint64_t,
                             std::vector<InputEvent>& out) override {
    if (absl::Status s = Take(m.esn(), out); !s.ok()) return s;
    if (out.empty()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the log has no input to wake the guest at ESN %d", m.esn()));
    }
    return absl::OkStatus();
  }
  bool reached_point() const { return reached_point_; }

 private:
  absl::Status Take(uint64_t esn, std::vector<InputEvent>& out) {
    InputsInMemory inputs(entries_, next_);
    return TakeInputsAt(inputs, esn, out, [esn](uint64_t missed) {
      return absl::InternalError(absl::StrFormat(
          "the rebuilt replica at ESN %d missed the input at ESN %d", esn,
          missed));
    });
  }

  std::vector<RetainedInput> entries_;
  size_t next_ = 0;
  VotePoint point_;
  bool reached_point_ = false;
};

class ReplayStops : public RunObserver {
 public:
  explicit ReplayStops(const VotePoint& point) : point_(point) {}
  absl::Status AtRendezvous(Machine& m) override {
    if (point_.before_checkpoint_at &&
        m.esn() == *point_.before_checkpoint_at) {
      reached_point_ = true;
      return absl::AbortedError("vote point");
    }
    return absl::OkStatus();
  }
  bool StopHere(const Machine& m) override {
    return point_.stop_at && m.esn() >= *point_.stop_at;
  }
  bool reached_point() const { return reached_point_; }

 private:
  VotePoint point_;
  bool reached_point_ = false;
};

}  // namespace

absl::StatusOr<VoteReplay> ReplayToVotePoint(
    Machine& machine, std::vector<RetainedInput> entries,
    const VotePoint& point, std::optional<double> timeout_seconds) {
  ReplaySource source(std::move(entries), point);
  ReplayStops stops(point);
  auto result =
      RunMachine(machine, source,
                 {.timeout_seconds = timeout_seconds, .observer = &stops});
  VoteReplay out;
  if (result.ok()) {
    if (result->reason == StopReason::kHaltedForever &&
        machine.rendezvous_step() == Machine::RendezvousStep::kWake) {
      out.starved = true;
    } else if (result->reason == StopReason::kStopPoint) {
      out.at_point = true;
    } else {
      out.ended = *result;
    }
  } else if (source.reached_point() || stops.reached_point()) {
    out.at_point = true;
  } else if (absl::IsInvalidArgument(result.status())) {
    // An input in the log does not fit its state either.
    out.starved = true;
  } else {
    return absl::InternalError(absl::StrFormat(
        "the rebuilt replica failed in replay: %s", result.status().message()));
  }
  return out;
}

}  // namespace xv
