#include "debug/replay_session.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "replay/apply_fault.h"
#include "replay/inputs_at_esn.h"
#include "replay/machine_replayer.h"

namespace xv {
namespace {

// Going back to time t from a snapshot further than twice this before it
// also snapshots the point this many instructions before t: the
// reverse-stepis that usually follow then restore it and re-execute at most
// this much, instead of the whole way from the older snapshot each time.
constexpr uint64_t kArrivalSnapshotDistance = 65'536;

}  // namespace

// The session's machine's environment: inputs from the log at their ESNs,
// outputs dropped (the replayer checks them; a session only moves), and the
// stops of the movement in progress.
class ReplaySession::Driver : public InputSource,
                              public RunObserver,
                              public OutputSink {
 public:
  explicit Driver(ReplaySession& session) : s_(session) {}

  // What the movement in progress stops at, besides the CPU's own limit.
  std::optional<uint64_t> until;      // a time, at a rendezvous
  std::optional<uint64_t> until_esn;  // the rendezvous of this exit
  bool rendezvous_first = true;
  // Set by the run when it stops for one of these.
  std::optional<DebugStop> debug_stop;
  bool reached_recorded_end = false;

  void Emit(const DeviceOutput&) override {}

  absl::Status Poll(const Machine& machine,
                    std::vector<InputEvent>& out) override {
    InputsInMemory<std::vector<LoggedInput>> log(s_.inputs_, s_.next_input_);
    return TakeInputsAt(log, machine.esn(), out, [&](uint64_t esn) {
      return absl::DataLossError(absl::StrFormat(
          "the replay passed exit %d without taking the input logged there "
          "(now at ESN %d): the recording does not replay on this machine",
          esn, machine.esn()));
    });
  }

  absl::Status WaitForWakeup(const Machine& machine, uint64_t,
                             std::vector<InputEvent>& out) override {
    const size_t before = out.size();
    if (absl::Status s = Poll(machine, out); !s.ok()) return s;
    if (out.size() > before) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrFormat(
        "the recording holds no input that wakes the guest after exit %d",
        machine.esn()));
  }

  absl::Status AtRendezvous(Machine& machine) override {
    s_.at_rendezvous_ = true;
    const uint64_t esn = machine.esn();
    if (s_.exit_time_.size() <= esn) s_.exit_time_.resize(esn + 1);
    s_.exit_time_[esn] = s_.control_->retired();
    for (const LoggedFault& fault : s_.faults_) {
      if (fault.esn != esn) continue;
      if (absl::Status s = ApplyFault(machine, fault); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  bool StopHere(const Machine& machine) override {
    if (!s_.at_rendezvous_) return false;  // resuming between two exits
    if (s_.end_ && machine.esn() >= s_.end_->esn) {
      reached_recorded_end = true;
      return true;
    }
    if (until_esn && machine.esn() >= *until_esn) return true;
    return until && rendezvous_first && s_.control_->retired() >= *until;
  }

  bool StopBetweenExits(const Machine&) override {
    s_.at_rendezvous_ = false;
    debug_stop = s_.control_->TakeStop();
    return debug_stop.has_value();
  }

 private:
  ReplaySession& s_;
};

ReplaySession::ReplaySession(const Hypervisor& hypervisor,
                             const SessionOptions& options)
    : hypervisor_(hypervisor),
      options_(options),
      driver_(std::make_unique<Driver>(*this)),
      controller_(std::make_unique<RunController>()) {}

ReplaySession::~ReplaySession() = default;

absl::StatusOr<std::unique_ptr<ReplaySession>> ReplaySession::Open(
    const Hypervisor& hypervisor, const std::string& path,
    const SessionOptions& options) {
  auto log = LoggedRecording::Read(path);
  if (!log.ok()) return log.status();
  std::unique_ptr<ReplaySession> s(new ReplaySession(hypervisor, options));
  s->header_ = std::move(log->header);
  s->inputs_ = std::move(log->inputs);
  s->end_ = std::move(log->end);
  s->faults_ = std::move(log->faults);
  const RecordedMachine& h = s->header_;
  auto base = MemoryBase::Create(h.memory_bytes);
  if (!base.ok()) return base.status();
  s->base_ = std::move(*base);
  MachineConfig config = RecordedMachineConfig(h);
  config.memory_base = s->base_;
  auto machine = Machine::Create(hypervisor, config, s->driver_.get());
  if (!machine.ok()) return machine.status();
  s->machine_ = std::move(*machine);
  auto kernel = s->machine_->BootMultiboot(h.kernel_image, h.kernel_name,
                                           {.cmdline = h.cmdline});
  if (!kernel.ok()) return kernel.status();
  auto initial = s->machine_->StateHash();
  if (!initial.ok()) return initial.status();
  if (*initial != h.initial_state_hash) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: the booted machine's state %s is not the recording's initial "
        "state %s",
        path, initial->ToHex(), h.initial_state_hash.ToHex()));
  }
  if (absl::Status st = s->AttachControl(); !st.ok()) return st;
  s->exit_time_ = {0};
  if (absl::Status st = s->TakeSnapshot(/*at_rendezvous=*/true); !st.ok()) {
    return st;
  }
  return s;
}

absl::Status ReplaySession::AttachControl() {
  auto control = machine_->cpu().EnableInstructionControl();
  if (!control.ok()) return control.status();
  if (*control == nullptr) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the %s backend cannot count or stop at instructions; replay "
        "debugging needs the emulator backend (--backend emu)",
        machine_->backend()));
  }
  control_ = *control;
  return absl::OkStatus();
}

Position ReplaySession::position() const {
  const uint64_t esn = machine_->esn();
  const uint64_t at_exit = esn < exit_time_.size() ? exit_time_[esn] : 0;
  return {.esn = esn, .steps = time() - at_exit};
}

std::optional<uint64_t> ReplaySession::ExitTime(uint64_t esn) const {
  // Every rendezvous the session passed is timed, in ESN order.
  if (esn >= exit_time_.size()) return std::nullopt;
  return exit_time_[esn];
}

size_t ReplaySession::ReadLinear(uint64_t linear,
                                 std::span<uint8_t> out) const {
  size_t done = 0;
  while (done < out.size()) {
    // Page by page: each page has its own translation.
    const uint64_t at = linear + done;
    auto gpa = machine_->cpu().Translate(at);
    if (!gpa.ok()) break;
    const size_t n =
        std::min<size_t>(kPageSize - at % kPageSize, out.size() - done);
    if (!machine_->memory().Read(*gpa, out.subspan(done, n)).ok()) break;
    done += n;
  }
  return done;
}

void ReplaySession::set_breakpoints(std::vector<uint64_t> linear_addresses) {
  breakpoints_ = std::move(linear_addresses);
}

void ReplaySession::set_watchpoints(std::vector<LinearRange> ranges) {
  watchpoints_ = std::move(ranges);
}

void ReplaySession::ArmDebug(bool on) {
  control_->set_breakpoints(on ? breakpoints_ : std::vector<uint64_t>{});
  control_->set_watchpoints(on ? watchpoints_ : std::vector<LinearRange>{});
}

absl::StatusOr<SessionStop> ReplaySession::RunForward(
    std::optional<uint64_t> until, bool rendezvous_first, bool debug) {
  using Kind = SessionStop::Kind;
  if (ended_) return SessionStop{.kind = Kind::kEnd, .message = *ended_};
  ArmDebug(debug);
  driver_->until = until;
  driver_->rendezvous_first = rendezvous_first;
  for (;;) {
    uint64_t next_snapshot =
        taking_snapshots_ ? last_snapshot_time_ + options_.snapshot_interval
                          : std::numeric_limits<uint64_t>::max();
    if (taking_snapshots_ && arrival_snapshot_ && *arrival_snapshot_ > time()) {
      next_snapshot = std::min(next_snapshot, *arrival_snapshot_);
    }
    const bool snapshot_limit = !until || next_snapshot < *until;
    control_->set_limit(snapshot_limit ? next_snapshot : *until);
    driver_->debug_stop.reset();
    driver_->reached_recorded_end = false;
    auto result =
        RunMachine(*machine_, *driver_, RunLimits{.observer = driver_.get()},
                   controller_.get());
    control_->set_limit(std::nullopt);
    if (!result.ok()) return result.status();
    if (result->reason == StopReason::kInterrupted) {
      controller_->ClearStop();
      return SessionStop{.kind = Kind::kInterrupted};
    }
    if (result->reason != StopReason::kStopPoint) {
      // The guest stopped at its last exit (debug-exit, a triple fault):
      // no rendezvous follows, but the point after it is ESN+0 all the
      // same, the recording's final state.
      const uint64_t esn = machine_->esn();
      if (result->stopped_at_exit_boundary && exit_time_.size() <= esn) {
        exit_time_.resize(esn + 1);
        exit_time_[esn] = time();
      }
      ended_ = result->message;
      return SessionStop{.kind = Kind::kEnd, .message = *ended_};
    }
    if (driver_->reached_recorded_end) {
      ended_ = absl::StrFormat("the recording ends at ESN %d (%s)",
                               machine_->esn(), end_->stop_reason);
      return SessionStop{.kind = Kind::kEnd, .message = *ended_};
    }
    if (!driver_->debug_stop) {
      return SessionStop{.kind = Kind::kReached};  // a rendezvous
    }
    const DebugStop stop = *driver_->debug_stop;
    switch (stop.kind) {
      case DebugStop::Kind::kBreakpoint:
        return SessionStop{.kind = Kind::kBreakpoint, .address = stop.address};
      case DebugStop::Kind::kWatchpoint:
        return SessionStop{.kind = Kind::kWatchpoint, .address = stop.address};
      case DebugStop::Kind::kLimit:
        break;
    }
    if (until && time() >= *until) return SessionStop{.kind = Kind::kReached};
    const bool arrival = arrival_snapshot_ && time() == *arrival_snapshot_;
    if (arrival) arrival_snapshot_.reset();
    if (absl::Status s = TakeSnapshot(/*at_rendezvous=*/false, arrival);
        !s.ok()) {
      return s;
    }
  }
}

absl::StatusOr<SessionStop> ReplaySession::Continue(
    std::optional<uint64_t> until) {
  if (until && *until < time()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "continue until %d: the session is already at %d", *until, time()));
  }
  return RunForward(until, /*rendezvous_first=*/true, /*debug=*/true);
}

absl::StatusOr<SessionStop> ReplaySession::StepInstruction() {
  return RunForward(time() + 1, /*rendezvous_first=*/true, /*debug=*/false);
}

absl::StatusOr<SessionStop> ReplaySession::SeekTime(uint64_t t) {
  return SeekTimeImpl(t, /*rendezvous_first=*/true);
}

absl::StatusOr<SessionStop> ReplaySession::SeekTimeImpl(uint64_t t,
                                                        bool rendezvous_first) {
  // Already there, or behind it with nothing better than running on: a
  // snapshot between the present and `t` is not worth a restore.
  const bool here_ok =
      time() < t || (time() == t && (at_rendezvous_ || !rendezvous_first));
  if (!here_ok || (ended_ && time() > t)) {
    // The latest snapshot that lies before `t` (at `t` only if it is the
    // kind of point asked for).
    const Snapshot* best = nullptr;
    for (const auto& [when, snap] : snapshots_) {
      if (when < t ||
          (when == t && (!rendezvous_first || snap.at_rendezvous))) {
        best = &snap;
      }
    }
    if (best == nullptr) best = &snapshots_.begin()->second;
    if (absl::Status s = Restore(*best); !s.ok()) return s;
    if (taking_snapshots_ && t > best->time + 2 * kArrivalSnapshotDistance) {
      arrival_snapshot_ = t - kArrivalSnapshotDistance;
    }
  }
  absl::Cleanup no_arrival = [this] { arrival_snapshot_.reset(); };
  if (time() == t && (at_rendezvous_ || !rendezvous_first)) {
    return SessionStop{.kind = SessionStop::Kind::kReached};
  }
  return RunForward(t, rendezvous_first, /*debug=*/false);
}

absl::StatusOr<SessionStop> ReplaySession::SeekPosition(
    const Position& position) {
  if (end_ && position.esn > end_->esn) {
    return absl::OutOfRangeError(absl::StrFormat(
        "position %s is past the end of the recording (its last exit is ESN "
        "%d)",
        FormatPosition(position), end_->esn));
  }
  // First the rendezvous of the exit, then the steps after it.
  std::optional<uint64_t> at_exit = ExitTime(position.esn);
  if (!at_exit) {
    driver_->until_esn = position.esn;
    auto stop = RunForward(std::nullopt, true, /*debug=*/false);
    driver_->until_esn.reset();
    if (!stop.ok()) return stop;
    at_exit = ExitTime(position.esn);
    if (!at_exit) {
      return absl::OutOfRangeError(absl::StrFormat(
          "position %s is never reached: %s", FormatPosition(position),
          stop->kind == SessionStop::Kind::kEnd ? stop->message
                                                : "the replay stopped first"));
    }
  }
  auto stop = SeekTimeImpl(*at_exit + position.steps, true);
  if (!stop.ok()) return stop;
  if (this->position() != position) {
    const std::optional<uint64_t> next = ExitTime(position.esn + 1);
    return absl::OutOfRangeError(absl::StrFormat(
        "position %s does not exist: %s", FormatPosition(position),
        next ? absl::StrFormat("exit %d comes %d instructions after exit %d",
                               position.esn + 1, *next - *at_exit, position.esn)
             : std::string("the recording ends first")));
  }
  return stop;
}

absl::StatusOr<SessionStop> ReplaySession::ReverseStepInstruction() {
  if (time() == 0) return SessionStop{.kind = SessionStop::Kind::kHistoryStart};
  return SeekTimeImpl(time() - 1, /*rendezvous_first=*/true);
}

absl::StatusOr<SessionStop> ReplaySession::ReverseContinue() {
  using Kind = SessionStop::Kind;
  const uint64_t now = time();
  std::vector<uint64_t> starts;
  for (const auto& [when, snap] : snapshots_) {
    if (when < now) starts.push_back(when);
  }
  // Re-executing an interval must not reshape the snapshots being walked.
  taking_snapshots_ = false;
  absl::Cleanup resume_snapshots = [this] { taking_snapshots_ = true; };
  std::optional<Hit> last;
  for (size_t i = starts.size(); i-- > 0 && !last;) {
    const uint64_t end = i + 1 < starts.size() ? starts[i + 1] : now;
    auto hit = LastHitBetween(starts[i], end, now);
    if (!hit.ok()) return hit.status();
    last = *hit;
  }
  std::move(resume_snapshots).Invoke();
  if (last && last->stop.kind == Kind::kInterrupted) return last->stop;
  if (!last) {
    auto at_start = SeekTimeImpl(0, /*rendezvous_first=*/true);
    if (!at_start.ok()) return at_start;
    return SessionStop{.kind = Kind::kHistoryStart};
  }
  auto there = SeekTimeImpl(last->time, /*rendezvous_first=*/false);
  if (!there.ok()) return there;
  return last->stop;
}

absl::StatusOr<std::optional<ReplaySession::Hit>> ReplaySession::LastHitBetween(
    uint64_t start, uint64_t end, uint64_t now) {
  using Kind = SessionStop::Kind;
  if (absl::Status s = Restore(snapshots_.at(start)); !s.ok()) return s;
  std::optional<Hit> last;
  for (;;) {
    auto stop = RunForward(end, /*rendezvous_first=*/false, /*debug=*/true);
    if (!stop.ok()) return stop.status();
    switch (stop->kind) {
      case Kind::kBreakpoint:
        if (time() < now) last = Hit{time(), *stop};
        break;
      case Kind::kWatchpoint:
        // Backward, a write is met before the instruction that made it.
        if (time() - 1 < now) last = Hit{time() - 1, *stop};
        break;
      case Kind::kInterrupted:
        return Hit{time(), *stop};
      default:
        return last;  // `end` or the end of the recording
    }
  }
}

absl::Status ReplaySession::TakeSnapshot(bool at_rendezvous, bool arrival) {
  last_snapshot_time_ = time();
  if (snapshots_.contains(time())) return absl::OkStatus();
  // A snapshot close to one already kept adds little (except the one for
  // the reverse-stepis after going back).
  auto next = snapshots_.lower_bound(time());
  if (!at_rendezvous && !arrival && next != snapshots_.end() &&
      next->first - time() < options_.snapshot_interval / 2) {
    return absl::OkStatus();
  }
  auto cp = CaptureCheckpoint(*machine_);
  if (!cp.ok()) return cp.status();
  Snapshot snap;
  snap.time = time();
  snap.next_input = next_input_;
  snap.at_rendezvous = at_rendezvous;
  snap.bytes =
      cp->delta_data.size() +
      (cp->page_hashes ? cp->page_hashes->pages() * sizeof(Hash128) : 0);
  snap.checkpoint = std::move(*cp);
  snapshot_bytes_ += snap.bytes;
  snapshots_.emplace(snap.time, std::move(snap));
  Thin();
  return absl::OkStatus();
}

void ReplaySession::Thin() {
  // Drop the snapshot whose neighbours are closest together relative to
  // its distance from the present, until within limits: what remains lies
  // densest just before the present, sparser further back (the boot and
  // the latest stay).
  const double now = static_cast<double>(time());
  while (snapshots_.size() > 2 &&
         (snapshots_.size() > options_.max_snapshots ||
          snapshot_bytes_ > options_.max_snapshot_bytes)) {
    auto victim = snapshots_.end();
    double best = std::numeric_limits<double>::max();
    for (auto it = std::next(snapshots_.begin());
         std::next(it) != snapshots_.end(); ++it) {
      const double gap =
          static_cast<double>(std::next(it)->first - std::prev(it)->first);
      const double age = std::max(1.0, now - static_cast<double>(it->first));
      if (gap / age < best) {
        best = gap / age;
        victim = it;
      }
    }
    snapshot_bytes_ -= victim->second.bytes;
    snapshots_.erase(victim);
  }
}

absl::Status ReplaySession::Restore(const Snapshot& snapshot) {
  auto machine =
      RestoreCheckpoint(hypervisor_, snapshot.checkpoint, driver_.get());
  if (!machine.ok()) return machine.status();
  machine_ = std::move(*machine);
  if (absl::Status s = AttachControl(); !s.ok()) return s;
  control_->set_retired(snapshot.time);
  next_input_ = snapshot.next_input;
  at_rendezvous_ = snapshot.at_rendezvous;
  ended_.reset();
  last_snapshot_time_ = snapshot.time;
  return absl::OkStatus();
}

}  // namespace xv
