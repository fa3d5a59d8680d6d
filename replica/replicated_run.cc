#include "replica/replicated_run.h"

#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/verify.h"
#include "devices/host_clock.h"
#include "memshare/page_merger.h"
#include "replica/fault_injector.h"
#include "replica/log_channel.h"

namespace xv {
namespace {

constexpr int kLeader = 0;
constexpr int kFollower = 1;

// An output kept past OutputSink::Emit().
struct OwnedOutput {
  OutputKind kind;
  std::string device;
  uint64_t arg;
  uint32_t count;
  std::vector<uint8_t> data;
};

// The gate's sink. Verified outputs wait here for the leader's thread, the
// only one that touches the back-ends (LiveEnvironment is single-threaded).
class ReleaseQueue : public OutputSink {
 public:
  void Emit(const DeviceOutput& o) override {
    absl::MutexLock lock(&mu_);
    queue_.push_back({o.kind, std::string(o.device), o.arg, o.count,
                      std::vector<uint8_t>(o.data.begin(), o.data.end())});
  }
  // Returns how many outputs it handed on.
  size_t DrainTo(OutputSink& sink) {
    std::deque<OwnedOutput> ready;
    {
      absl::MutexLock lock(&mu_);
      ready.swap(queue_);
    }
    for (const OwnedOutput& o : ready) {
      sink.Emit({o.kind, o.device, o.arg, o.count, o.data});
    }
    return ready.size();
  }

 private:
  absl::Mutex mu_;
  std::deque<OwnedOutput> queue_ ABSL_GUARDED_BY(mu_);
};

// What the two replica threads share: how far the leader got, the
// checkpoint rendezvous, the end, the first failure.
class PairState {
 public:
  explicit PairState(LogChannel* channel) : channel_(channel) {}

  void LeaderReached(uint64_t esn) {
    absl::MutexLock lock(&mu_);
    leader_esn_ = esn;
    cv_.SignalAll();
  }
  void LeaderEnded(uint64_t esn) {
    absl::MutexLock lock(&mu_);
    leader_end_ = esn;
    cv_.SignalAll();
  }
  std::optional<uint64_t> leader_end() {
    absl::MutexLock lock(&mu_);
    return leader_end_;
  }
  // Until the leader has handled exit `esn` (so every input at it is in the
  // channel) or ended. False when the run failed.
  bool WaitLeaderPast(uint64_t esn) {
    absl::MutexLock lock(&mu_);
    while (!failure_ && leader_esn_ < esn && !leader_end_) cv_.Wait(&mu_);
    return !failure_.has_value();
  }
  // The first failure wins; everyone waiting wakes up.
  void Fail(std::string why) {
    {
      absl::MutexLock lock(&mu_);
      if (failure_) return;
      failure_ = std::move(why);
      cv_.SignalAll();
    }
    channel_->Abort();
  }
  std::optional<std::string> failure() {
    absl::MutexLock lock(&mu_);
    return failure_;
  }
  // Both replicas meet at checkpoint `esn`; the second to arrive runs
  // `verify` (returns a failure, or nothing when verified) while the first
  // waits. False when the run failed.
  bool Checkpoint(int slot, uint64_t esn,
                  absl::FunctionRef<std::optional<std::string>()> verify) {
    absl::MutexLock lock(&mu_);
    arrived_[slot] = esn;
    if (arrived_[1 - slot] == esn) {
      mu_.Unlock();
      std::optional<std::string> failed = verify();
      mu_.Lock();
      if (failed && !failure_) failure_ = std::move(*failed);
      done_esn_ = esn;
      cv_.SignalAll();
      if (failure_) channel_->Abort();
    } else {
      while (!failure_ && done_esn_ < esn) cv_.Wait(&mu_);
    }
    return !failure_.has_value();
  }

 private:
  LogChannel* channel_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  uint64_t leader_esn_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<uint64_t> leader_end_ ABSL_GUARDED_BY(mu_);
  std::optional<std::string> failure_ ABSL_GUARDED_BY(mu_);
  uint64_t arrived_[2] ABSL_GUARDED_BY(mu_) = {UINT64_MAX, UINT64_MAX - 1};
  uint64_t done_esn_ ABSL_GUARDED_BY(mu_) = 0;
};

// A replica's outputs go to its gate slot, at its current ESN.
class GateSlotSink : public OutputSink {
 public:
  GateSlotSink(OutputGate* gate, int slot, PairState* state)
      : gate_(gate), slot_(slot), state_(state) {}
  void set_machine(const Machine* m) { machine_ = m; }
  void Emit(const DeviceOutput& o) override {
    absl::Status s = gate_->Submit(slot_, machine_->esn(), o);
    if (!s.ok()) state_->Fail(std::string(s.message()));
  }

 private:
  OutputGate* gate_;
  int slot_;
  PairState* state_;
  const Machine* machine_ = nullptr;
};

// The leader's inputs: the live back-ends, after handing them the outputs
// the gate released since the last call.
class LeaderInputs : public InputSource {
 public:
  LeaderInputs(LiveEnvironment* env, ReleaseQueue* released, OutputGate* gate,
               PairState* state)
      : env_(env), released_(released), gate_(gate), state_(state) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    released_->DrainTo(*env_);
    return env_->Poll(m, out);
  }
  // Waits in short steps: an output the follower has yet to match (a disk
  // read request, say) can be what will wake the guest.
  absl::Status WaitForWakeup(const Machine& m, uint64_t deadline_ns,
                             std::vector<InputEvent>& out) override {
    constexpr uint64_t kStepNs = 2'000'000;
    for (;;) {
      released_->DrainTo(*env_);
      if (auto f = state_->failure()) return absl::AbortedError(*f);
      const uint64_t now = HostClock::MonotonicNs();
      absl::Status s =
          env_->WaitForWakeup(m, std::min(deadline_ns, now + kStepNs), out);
      if (!out.empty()) return s;
      if (absl::IsFailedPrecondition(s)) {
        // The back-ends know of nothing to come, but an output of the
        // leader's may still be in the gate or on its way out (a disk read
        // request). Nothing of the leader's pending or in flight when the
        // stats were read means nothing can become released later, since
        // this thread submits the leader's outputs: then drain once more.
        const OutputGateStats st = gate_->stats();
        if (released_->DrainTo(*env_) > 0) continue;
        if (st.pending[kLeader] == 0 && st.verified == st.released) return s;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (!s.ok()) return s;
      if (HostClock::MonotonicNs() >= deadline_ns) return absl::OkStatus();
    }
  }

 private:
  LiveEnvironment* env_;
  ReleaseQueue* released_;
  OutputGate* gate_;
  PairState* state_;
};

// The follower's inputs: the leader's, from the channel, at the same ESN.
class FollowerInputs : public InputSource {
 public:
  FollowerInputs(LogChannel* channel, int consumer, PairState* state)
      : channel_(channel), consumer_(consumer), state_(state) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    return Take(m.esn(), out);
  }
  absl::Status WaitForWakeup(const Machine& m, uint64_t,
                             std::vector<InputEvent>& out) override {
    if (absl::Status s = Take(m.esn(), out); !s.ok()) return s;
    if (out.empty()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the leader went on past ESN %d without waking the follower",
          m.esn()));
    }
    return absl::OkStatus();
  }

 private:
  absl::Status Take(uint64_t esn, std::vector<InputEvent>& out) {
    if (!state_->WaitLeaderPast(esn)) {
      return absl::AbortedError(state_->failure().value_or("run failed"));
    }
    while (const LogEntry* next = channel_->Peek(consumer_)) {
      const auto* in = std::get_if<LoggedInput>(next);
      if (in == nullptr || in->esn > esn) break;
      if (in->esn < esn) {
        return absl::InternalError(absl::StrFormat(
            "the follower at ESN %d missed the leader's input at ESN %d", esn,
            in->esn));
      }
      auto entry = channel_->Next(consumer_, absl::ZeroDuration());
      if (!entry.ok()) return entry.status();
      out.push_back(std::get<LoggedInput>(**entry).input);
    }
    return absl::OkStatus();
  }

  LogChannel* channel_;
  int consumer_;
  PairState* state_;
};

// At every rendezvous: the leader publishes its progress; both meet at
// checkpoints; the follower stops where the leader stopped.
class ReplicaObserver : public RunObserver {
 public:
  ReplicaObserver(
      int slot, uint64_t every, PairState* state, LogChannel* channel,
      absl::FunctionRef<std::optional<std::string>(uint64_t)> verify)
      : slot_(slot),
        every_(every),
        state_(state),
        channel_(channel),
        verify_(verify) {}

  absl::Status OnInput(const Machine& m, const InputEvent& input) override {
    if (slot_ != kLeader) return absl::OkStatus();
    return channel_->Push(LoggedInput{m.esn(), input});
  }
  absl::Status AtRendezvous(Machine& m) override {
    const uint64_t esn = m.esn();
    if (slot_ == kLeader) state_->LeaderReached(esn);
    if (every_ != 0 && esn % every_ == 0) {
      // Each replica completes its own pending I/O on its own thread.
      if (absl::Status s = m.SyncMemory(); !s.ok()) return s;
      if (!state_->Checkpoint(slot_, esn, [&] { return verify_(esn); })) {
        return absl::AbortedError(state_->failure().value_or("run failed"));
      }
    }
    if (auto f = state_->failure()) return absl::AbortedError(*f);
    return absl::OkStatus();
  }
  bool StopHere(const Machine& m) override {
    if (slot_ == kLeader) return false;
    std::optional<uint64_t> end = state_->leader_end();
    return end && m.esn() >= *end;
  }

 private:
  int slot_;
  uint64_t every_;
  PairState* state_;
  LogChannel* channel_;
  absl::FunctionRef<std::optional<std::string>(uint64_t)> verify_;
};

}  // namespace

absl::StatusOr<ReplicatedOutcome> RunReplicated(
    const KvmSystem& kvm, MachineConfig config, std::span<const uint8_t> kernel,
    std::string_view kernel_name, const MultibootOptions& boot,
    LiveEnvironment& env, const ReplicaOptions& options,
    RunController* controller) {
  if (config.memory_base != nullptr) {
    return absl::InvalidArgumentError("RunReplicated makes its own base");
  }
  if (options.inject && options.inject->kind == FaultKind::kHang) {
    return absl::UnimplementedError(
        "hang faults need hang detection, which RunReplicated lacks");
  }
  auto base = MemoryBase::Create(config.memory_bytes);
  if (!base.ok()) return base.status();
  config.memory_base = *base;

  LogChannel channel(options.channel_capacity);
  const int follower_consumer = channel.AddConsumer();
  PairState state(&channel);
  ReleaseQueue released;
  OutputGate gate(&released);
  GateSlotSink leader_sink(&gate, kLeader, &state);
  GateSlotSink follower_sink(&gate, kFollower, &state);

  auto leader = Machine::Create(kvm, config, &leader_sink);
  if (!leader.ok()) return leader.status();
  leader_sink.set_machine(leader->get());
  auto loaded = (*leader)->BootMultiboot(kernel, kernel_name, boot);
  if (!loaded.ok()) return loaded.status();
  auto start = CaptureCheckpoint(**leader);
  if (!start.ok()) return start.status();
  auto follower = RestoreCheckpoint(kvm, *start, &follower_sink);
  if (!follower.ok()) return follower.status();
  follower_sink.set_machine(follower->get());
  Machine& a = **leader;
  Machine& b = **follower;

  ReplicatedOutcome outcome;
  PageMerger merger(*base, MergePolicy{});
  auto verify = [&](uint64_t esn) -> std::optional<std::string> {
    auto v = VerifyReplicas(a, b);
    if (!v.ok()) return std::string(v.status().message());
    if (!v->verified()) return "checkpoint mismatch: " + v->Describe();
    ReplicaPages pages[] = {{&a.memory(), &a.dirty()},
                            {&b.memory(), &b.dirty()}};
    auto merged = merger.MergeVerified(pages);
    if (!merged.ok()) return std::string(merged.status().message());
    gate.Verified(esn);
    ++outcome.checkpoints_verified;
    return std::nullopt;
  };
  // Start from one verified, shared state (the loaded kernel merged).
  if (auto failed = verify(0)) return absl::InternalError(*failed);

  ReplicaObserver leader_observer(kLeader, options.checkpoint_every, &state,
                                  &channel, verify);
  ReplicaObserver follower_observer(kFollower, options.checkpoint_every, &state,
                                    &channel, verify);
  RunObserver* observers[2] = {&leader_observer, &follower_observer};
  std::optional<FaultInjector> injector;
  if (options.inject) {
    const int slot =
        options.inject->replica == ReplicaRole::kLeader ? kLeader : kFollower;
    injector.emplace(*options.inject, observers[slot]);
    observers[slot] = &*injector;
  }
  LeaderInputs leader_inputs(&env, &released, &gate, &state);
  FollowerInputs follower_inputs(&channel, follower_consumer, &state);

  env.StartClock(a.platform().clock().now_ns());
  absl::StatusOr<RunResult> leader_result, follower_result;
  std::thread follower_thread([&] {
    follower_result =
        RunMachine(b, follower_inputs, {.observer = observers[kFollower]});
    if (!follower_result.ok()) {
      state.Fail("follower: " +
                 std::string(follower_result.status().message()));
    }
  });
  leader_result = RunMachine(a, leader_inputs,
                             {.timeout_seconds = options.timeout_seconds,
                              .observer = observers[kLeader]},
                             controller);
  state.LeaderEnded(a.esn());
  channel.Close();
  if (!leader_result.ok()) {
    state.Fail("leader: " + std::string(leader_result.status().message()));
  }
  follower_thread.join();

  if (!state.failure() && follower_result.ok() && leader_result.ok()) {
    if (b.esn() != a.esn()) {
      state.Fail(absl::StrFormat(
          "the follower ended at ESN %d, the leader at %d", b.esn(), a.esn()));
    } else if (leader_result->stopped_at_exit_boundary) {
      auto v = VerifyReplicas(a, b);
      if (!v.ok()) return v.status();
      if (!v->verified()) {
        state.Fail("final state mismatch: " + v->Describe());
      } else {
        auto hash = a.StateHash();
        if (!hash.ok()) return hash.status();
        outcome.final_state_hash = *hash;
      }
    }
    const OutputGateStats gs = gate.stats();
    if (!state.failure() &&
        (gs.pending[kLeader] != 0 || gs.pending[kFollower] != 0)) {
      state.Fail(absl::StrFormat(
          "outputs left unmatched at the end: %d from the leader, %d from "
          "the follower",
          gs.pending[kLeader], gs.pending[kFollower]));
    }
  }
  released.DrainTo(env);
  if (absl::Status s = env.Finish(); !s.ok()) return s;

  outcome.divergence = state.failure();
  if (leader_result.ok()) {
    outcome.result = *leader_result;
  } else {
    outcome.result.esn = a.esn();
    outcome.result.reason = StopReason::kInterrupted;
    outcome.result.message = std::string(leader_result.status().message());
  }
  outcome.stats = a.stats();
  outcome.outputs_released = gate.stats().released;
  outcome.output_latency = gate.latency();
  if (injector && injector->injected())
    outcome.injected = injector->description();
  return outcome;
}

}  // namespace xv
