#include "replica/replicated_run.h"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
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
#include "replica/hang_detector.h"
#include "replica/retained_log.h"
#include "replica/vote_replay.h"

namespace xv {

std::string_view DivergenceTriggerName(DivergenceTrigger trigger) {
  switch (trigger) {
    case DivergenceTrigger::kOutput:
      return "output_mismatch";
    case DivergenceTrigger::kCheckpoint:
      return "checkpoint_mismatch";
    case DivergenceTrigger::kCrash:
      return "crash";
    case DivergenceTrigger::kHang:
      return "hang";
    case DivergenceTrigger::kEnd:
      return "end_mismatch";
    case DivergenceTrigger::kLog:
      return "log_mismatch";
  }
  return "?";
}

namespace {

constexpr int kLeader = HangDetector::kLeader;
constexpr int kFollower = HangDetector::kFollower;
// Recoveries in a row without a verified checkpoint in between before the
// run gives up (a fault the vote keeps misjudging must not loop forever).
constexpr int kMaxRecoveriesPerCheckpoint = 3;

double MsSince(uint64_t start_ns) {
  return (HostClock::MonotonicNs() - start_ns) / 1e6;
}

// "A", "B", ... "Z", then "R27", "R28", ... (a long run may rebuild many).
std::string ReplicaName(int index) {
  if (index < 26) return std::string(1, static_cast<char>('A' + index));
  return absl::StrFormat("R%d", index + 1);
}

const char* RoleName(int role) {
  return role == kLeader ? "leader" : "follower";
}

// Pins the calling thread to `cpu` when the machine has more than one.
void PinToCpu(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::thread::hardware_concurrency(), &set);
  // Best effort: a cgroup may forbid it, and the run is correct unpinned.
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// The gate's sink. Verified outputs wait here for the leader's thread, the
// only one that touches the back-ends (LiveEnvironment is single-threaded).
class ReleaseQueue : public OutputSink {
 public:
  void Emit(const DeviceOutput& o) override {
    absl::MutexLock lock(&mu_);
    queue_.push_back(GateOutput::Copy(0, o));
  }
  // Returns how many outputs it handed on.
  size_t DrainTo(OutputSink& sink) {
    std::deque<GateOutput> ready;
    {
      absl::MutexLock lock(&mu_);
      ready.swap(queue_);
    }
    for (const GateOutput& o : ready) sink.Emit(o.view());
    return ready.size();
  }

 private:
  absl::Mutex mu_;
  std::deque<GateOutput> queue_ ABSL_GUARDED_BY(mu_);
};

// What stopped an epoch: a divergence (with the replica the trigger itself
// blames, for a crash or a hang), or the user.
struct Trigger {
  DivergenceTrigger kind = DivergenceTrigger::kOutput;
  uint64_t esn = 0;
  std::string detail;
  std::optional<int> culprit;  // role
  uint64_t detected_ns = 0;
};

// A replica's outputs: recorded since the last verified checkpoint (the
// vote compares them) and, once it has a gate slot, submitted there.
class ReplicaSink : public OutputSink {
 public:
  explicit ReplicaSink(OutputGate* gate) : gate_(gate) {}
  void set_machine(const Machine* m) { machine_ = m; }
  void set_slot(std::optional<int> slot) { slot_ = slot; }
  std::optional<int> slot() const { return slot_; }
  // Called when the gate refuses an output (it diverged).
  void set_on_divergence(std::function<void(const GateOutput&)> f) {
    on_divergence_ = std::move(f);
  }

  void Emit(const DeviceOutput& o) override {
    GateOutput out = GateOutput::Copy(machine_->esn(), o);
    {
      absl::MutexLock lock(&mu_);
      trail_.push_back(out);
    }
    if (!slot_) return;
    if (!gate_->Submit(*slot_, out.esn, o).ok() && on_divergence_) {
      on_divergence_(out);
    }
  }

  std::vector<GateOutput> trail() const {
    absl::MutexLock lock(&mu_);
    return trail_;
  }
  void ClearTrail() {
    absl::MutexLock lock(&mu_);
    trail_.clear();
  }

 private:
  OutputGate* gate_;
  const Machine* machine_ = nullptr;
  std::optional<int> slot_;
  std::function<void(const GateOutput&)> on_divergence_;
  mutable absl::Mutex mu_;
  std::vector<GateOutput> trail_ ABSL_GUARDED_BY(mu_);
};

// One replica: a machine, its outputs, its place in the log.
struct Replica {
  std::string name;  // "A", "B", "C", ... for reports
  std::unique_ptr<ReplicaSink> sink;
  std::unique_ptr<Machine> machine;  // after `sink`: it emits into it
  int reader = -1;                   // RetainedLog reader while a follower
  // Log position of its first input: with Machine::inputs_applied(), where
  // it is in the log by what it applied (a reader's position also counts
  // inputs it took but could not apply).
  uint64_t log_offset = 0;
  // The run's injected faults that target this replica, in order.
  std::vector<FaultInjector*> injectors;
  // The last run's result, when it ended rather than being stopped.
  std::optional<RunResult> ended;
  // The last run failed on its own (not stopped by the manager): whatever
  // the vote finds, it cannot go on.
  bool failed = false;
};

// The trail up to and including exit `esn`.
std::vector<GateOutput> TrailThrough(const std::vector<GateOutput>& trail,
                                     uint64_t esn) {
  std::vector<GateOutput> out;
  for (const GateOutput& o : trail) {
    if (o.esn <= esn) out.push_back(o);
  }
  return out;
}

// One epoch: both replicas running until they end or something stops them.
class EpochState {
 public:
  explicit EpochState(RetainedLog* log) : log_(log) {}

  // The first trigger wins; everyone waiting wakes up.
  void Fail(Trigger t) {
    {
      absl::MutexLock lock(&mu_);
      if (trigger_ || interrupted_) return;
      t.detected_ns = HostClock::MonotonicNs();
      trigger_ = std::move(t);
      cv_.SignalAll();
    }
    log_->Abort();
  }
  void Interrupt() {
    {
      absl::MutexLock lock(&mu_);
      interrupted_ = true;
      cv_.SignalAll();
    }
    log_->Abort();
  }
  bool stopping() {
    absl::MutexLock lock(&mu_);
    return trigger_.has_value() || interrupted_;
  }
  std::optional<Trigger> trigger() {
    absl::MutexLock lock(&mu_);
    return trigger_;
  }
  bool interrupted() {
    absl::MutexLock lock(&mu_);
    return interrupted_;
  }
  void LeaderEnded(uint64_t esn) {
    absl::MutexLock lock(&mu_);
    leader_end_ = esn;
  }
  std::optional<uint64_t> leader_end() {
    absl::MutexLock lock(&mu_);
    return leader_end_;
  }
  // The follower's run ended on its own at `esn` (not at the leader's
  // end: that is a stop point).
  void FollowerEnded(uint64_t esn) {
    absl::MutexLock lock(&mu_);
    follower_end_ = esn;
    follower_end_time_ = absl::Now();
  }
  std::optional<uint64_t> follower_end(absl::Time* when) {
    absl::MutexLock lock(&mu_);
    if (follower_end_) *when = follower_end_time_;
    return follower_end_;
  }
  void ThreadDone() {
    absl::MutexLock lock(&mu_);
    ++threads_done_;
    cv_.SignalAll();
  }
  // Until both threads are done, something stops the epoch, or `timeout`.
  void WaitForNews(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    if (threads_done_ < 2 && !trigger_ && !interrupted_) {
      cv_.WaitWithTimeout(&mu_, timeout);
    }
  }
  bool both_done() {
    absl::MutexLock lock(&mu_);
    return threads_done_ == 2;
  }

  // Both replicas meet at checkpoint `esn`; the second to arrive runs
  // `verify` (a trigger, or nothing when verified) while the first waits.
  // False when the epoch is stopping.
  bool Checkpoint(int role, uint64_t esn,
                  absl::FunctionRef<std::optional<Trigger>()> verify) {
    absl::MutexLock lock(&mu_);
    arrived_[role] = esn;
    if (arrived_[1 - role] == esn) {
      mu_.Unlock();
      std::optional<Trigger> failed = verify();
      if (failed) Fail(std::move(*failed));
      mu_.Lock();
      done_esn_ = esn;
      cv_.SignalAll();
    } else {
      while (!trigger_ && !interrupted_ && done_esn_ != esn) cv_.Wait(&mu_);
    }
    return !trigger_ && !interrupted_;
  }

 private:
  RetainedLog* log_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::optional<Trigger> trigger_ ABSL_GUARDED_BY(mu_);
  bool interrupted_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<uint64_t> leader_end_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> follower_end_ ABSL_GUARDED_BY(mu_);
  absl::Time follower_end_time_ ABSL_GUARDED_BY(mu_);
  int threads_done_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t arrived_[2] ABSL_GUARDED_BY(mu_) = {UINT64_MAX, UINT64_MAX - 1};
  uint64_t done_esn_ ABSL_GUARDED_BY(mu_) = UINT64_MAX;
};

// C, replayed to the vote point.
struct Rebuilt {
  std::unique_ptr<Replica> replica;
  uint64_t position = 0;  // next log entry for it
  VoteReplay replay;
};

// The replica manager (DESIGN §4) behind RunReplicated: the replicas, their
// epochs (both running until they end or a trigger stops them), the
// verified checkpoints, and recovery.
class ReplicaManager {
 public:
  ReplicaManager(const Hypervisor& hypervisor, MachineConfig config,
                 LiveEnvironment& env, const ReplicaOptions& options,
                 RunController* controller)
      : hypervisor_(hypervisor),
        config_(std::move(config)),
        env_(env),
        options_(options),
        controller_(controller),
        gate_(&released_),
        log_(options.channel_capacity),
        hangs_(absl::Seconds(options.hang_timeout_seconds)) {}

  absl::Status Start(std::span<const uint8_t> kernel,
                     std::string_view kernel_name,
                     const MultibootOptions& boot);
  absl::StatusOr<ReplicatedOutcome> Run();

 private:
  class LeaderInputs;
  class FollowerInputs;
  class LeaderObserver;
  class FollowerObserver;

  std::unique_ptr<Replica> NewReplica(std::string name);
  // Runs both replicas until they end or a trigger stops them. Returns the
  // trigger, or nothing when both ended (or the user interrupted).
  absl::StatusOr<std::optional<Trigger>> RunEpoch();
  // The checks at the end: same exit, same state, every output matched.
  absl::StatusOr<std::optional<Trigger>> CheckEnd();
  // Verification, merge and the new checkpoint, on the second replica to
  // arrive at checkpoint `esn`.
  std::optional<Trigger> VerifyCheckpoint(uint64_t esn);
  // The third replica, the vote, the replacement. False: fail-safe.
  absl::StatusOr<bool> Recover(const Trigger& trigger);
  absl::StatusOr<Rebuilt> Rebuild(const VotePoint& point);
  // Does C agree with `r` at the vote point? (`states`: compare states.)
  absl::StatusOr<bool> Agrees(Replica& c, Replica& r, uint64_t through_esn,
                              bool states);
  // The End of a recording: the whole run, or up to the last verified
  // checkpoint when the run did not end verified.
  absl::Status FinishRecording();
  void Report(const std::string& line) const {
    if (options_.on_event) options_.on_event(line);
  }
  void FailSafe(std::string why) {
    if (!outcome_.fail_safe) outcome_.fail_safe = std::move(why);
  }
  std::optional<double> RemainingSeconds() const {
    if (!options_.timeout_seconds) return std::nullopt;
    return std::max(0.001, *options_.timeout_seconds -
                               (HostClock::MonotonicNs() - start_ns_) / 1e9);
  }

  const Hypervisor& hypervisor_;
  MachineConfig config_;
  LiveEnvironment& env_;
  const ReplicaOptions options_;
  RunController* controller_;

  std::shared_ptr<MemoryBase> base_;
  ReleaseQueue released_;
  OutputGate gate_;
  RetainedLog log_;
  HangDetector hangs_;
  std::unique_ptr<PageMerger> merger_;
  std::unique_ptr<VerifiedLogWriter> recorder_;
  absl::Status record_error_;
  std::optional<Checkpoint> checkpoint_;  // the last verified one
  std::atomic<uint64_t> verified_esn_{0};
  int recoveries_since_verified_ = 0;
  std::vector<std::unique_ptr<FaultInjector>> injectors_;  // [0]: `inject`
  std::unique_ptr<Replica> leader_, follower_;
  std::atomic<EpochState*> epoch_{nullptr};
  int next_name_ = 0;
  uint64_t start_ns_ = 0;
  std::atomic<uint64_t> last_checkpoint_ns_{0};
  std::optional<RunResult> leader_result_;
  ReplicatedOutcome outcome_;
};

// The leader's inputs: re-queued ones first, then the live back-ends, after
// handing them the outputs the gate released since the last call.
class ReplicaManager::LeaderInputs : public InputSource {
 public:
  LeaderInputs(ReplicaManager* run, EpochState* epoch)
      : run_(run), epoch_(epoch) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    if (epoch_->stopping()) return absl::AbortedError("stopping");
    run_->hangs_.Reached(kLeader, m.esn(), absl::Now());
    run_->released_.DrainTo(run_->env_);
    return run_->env_.Poll(m, out);
  }
  // Waits in short steps: an output the follower has yet to match (a disk
  // read request, say) can be what will wake the guest.
  absl::Status WaitForWakeup(const Machine& m, uint64_t deadline_ns,
                             std::vector<InputEvent>& out) override {
    run_->hangs_.LeaderIdle(true, absl::Now());
    absl::Status s = Wait(m, deadline_ns, out);
    run_->hangs_.LeaderIdle(false, absl::Now());
    return s;
  }

 private:
  absl::Status Wait(const Machine& m, uint64_t deadline_ns,
                    std::vector<InputEvent>& out) {
    constexpr uint64_t kStepNs = 2'000'000;
    for (;;) {
      run_->released_.DrainTo(run_->env_);
      if (epoch_->stopping()) return absl::AbortedError("stopping");
      const uint64_t now = HostClock::MonotonicNs();
      absl::Status s = run_->env_.WaitForWakeup(
          m, std::min(deadline_ns, now + kStepNs), out);
      if (!out.empty()) return s;
      if (absl::IsFailedPrecondition(s)) {
        // The back-ends know of nothing to come, but an output of the
        // leader's may still be in the gate or on its way out (a disk read
        // request). Nothing of the leader's pending or in flight when the
        // stats were read means nothing can become released later, since
        // this thread submits the leader's outputs: then drain once more.
        const OutputGateStats st = run_->gate_.stats();
        if (run_->released_.DrainTo(run_->env_) > 0) continue;
        const int slot = *run_->leader_->sink->slot();
        if (st.pending[slot] == 0 && st.verified == st.released) return s;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (!s.ok()) return s;
      if (HostClock::MonotonicNs() >= deadline_ns) return absl::OkStatus();
    }
  }

  ReplicaManager* run_;
  EpochState* epoch_;
};

// The follower's inputs: the leader's, from the log, at the same ESN.
class ReplicaManager::FollowerInputs : public InputSource {
 public:
  FollowerInputs(ReplicaManager* run, EpochState* epoch)
      : run_(run), epoch_(epoch) {}

  absl::Status Poll(const Machine& m, std::vector<InputEvent>& out) override {
    run_->hangs_.Reached(kFollower, m.esn(), absl::Now());
    return run_->log_.Take(run_->follower_->reader, m.esn(), out);
  }
  absl::Status WaitForWakeup(const Machine& m, uint64_t,
                             std::vector<InputEvent>& out) override {
    if (absl::Status s = run_->log_.Take(run_->follower_->reader, m.esn(), out);
        !s.ok()) {
      return s;
    }
    if (!out.empty()) return absl::OkStatus();
    std::optional<uint64_t> end = epoch_->leader_end();
    if (end && *end == m.esn()) {
      return absl::FailedPreconditionError("the leader ended halted here too");
    }
    // The leader went on past this exit without an input that wakes the
    // guest: one of the two is wrong about where the guest halts.
    epoch_->Fail({.kind = DivergenceTrigger::kLog,
                  .esn = m.esn(),
                  .detail = absl::StrFormat(
                      "the follower halted at ESN %d, where the leader placed "
                      "no input to wake it",
                      m.esn())});
    return absl::AbortedError("stuck");
  }

 private:
  ReplicaManager* run_;
  EpochState* epoch_;
};

// The leader at each rendezvous: logs its inputs, chooses checkpoints,
// publishes its progress, waits for a lagging follower.
class ReplicaManager::LeaderObserver : public RunObserver {
 public:
  LeaderObserver(ReplicaManager* run, EpochState* epoch)
      : run_(run), epoch_(epoch) {}

  absl::Status OnInput(const Machine& m, const InputEvent& input) override {
    run_->log_.Append(m.esn(), input);
    return absl::OkStatus();
  }
  absl::Status AtRendezvous(Machine& m) override {
    const uint64_t esn = m.esn();
    if (!run_->log_.WaitForRoom()) return absl::AbortedError("stopping");
    bool checkpoint = run_->log_.IsCheckpoint(esn);
    if (!checkpoint && esn > run_->verified_esn_ && Due(esn)) {
      run_->log_.MarkCheckpoint(esn);
      checkpoint = true;
    }
    run_->log_.Finalize(esn);
    if (checkpoint && esn > run_->verified_esn_) {
      // Each replica completes its own pending I/O on its own thread.
      if (absl::Status s = m.SyncMemory(); !s.ok()) return s;
      if (!epoch_->Checkpoint(kLeader, esn,
                              [&] { return run_->VerifyCheckpoint(esn); })) {
        return absl::AbortedError("stopping");
      }
    }
    if (epoch_->stopping()) return absl::AbortedError("stopping");
    return absl::OkStatus();
  }

 private:
  bool Due(uint64_t esn) const {
    const ReplicaOptions& o = run_->options_;
    if (o.checkpoint_every != 0 && esn % o.checkpoint_every == 0) return true;
    return o.checkpoint_ms &&
           MsSince(run_->last_checkpoint_ns_) >= *o.checkpoint_ms;
  }

  ReplicaManager* run_;
  EpochState* epoch_;
};

// The follower at each rendezvous: stops at the leader's checkpoints and
// where the leader ended.
class ReplicaManager::FollowerObserver : public RunObserver {
 public:
  FollowerObserver(ReplicaManager* run, EpochState* epoch)
      : run_(run), epoch_(epoch) {}

  absl::Status AtRendezvous(Machine& m) override {
    const uint64_t esn = m.esn();
    if (esn > run_->verified_esn_ && run_->log_.IsCheckpoint(esn)) {
      if (absl::Status s = m.SyncMemory(); !s.ok()) return s;
      if (!epoch_->Checkpoint(kFollower, esn,
                              [&] { return run_->VerifyCheckpoint(esn); })) {
        return absl::AbortedError("stopping");
      }
    }
    if (epoch_->stopping()) return absl::AbortedError("stopping");
    return absl::OkStatus();
  }
  bool StopHere(const Machine& m) override {
    std::optional<uint64_t> end = epoch_->leader_end();
    return end && m.esn() >= *end;
  }

 private:
  ReplicaManager* run_;
  EpochState* epoch_;
};

std::unique_ptr<Replica> ReplicaManager::NewReplica(std::string name) {
  auto r = std::make_unique<Replica>();
  r->name = std::move(name);
  r->sink = std::make_unique<ReplicaSink>(&gate_);
  ReplicaSink* sink = r->sink.get();
  sink->set_on_divergence([this, sink](const GateOutput& o) {
    EpochState* epoch = epoch_.load();
    if (epoch == nullptr) return;
    std::optional<OutputDivergence> d = gate_.divergence();
    epoch->Fail({.kind = DivergenceTrigger::kOutput,
                 .esn = d ? d->esn : o.esn,
                 .detail = d ? d->ToString() : "the gate refused an output"});
  });
  return r;
}

absl::Status ReplicaManager::Start(std::span<const uint8_t> kernel,
                                   std::string_view kernel_name,
                                   const MultibootOptions& boot) {
  auto base = MemoryBase::Create(config_.memory_bytes);
  if (!base.ok()) return base.status();
  base_ = *base;
  // By default the zero pages shmem allocates on first writes wait for the
  // next merge to fill them (see ReplicaOptions::reclaim_zero_pages).
  base_->set_reclaims_zero_pages(options_.reclaim_zero_pages);
  config_.memory_base = base_;
  merger_ = std::make_unique<PageMerger>(base_, MergePolicy{});

  leader_ = NewReplica("A");
  auto a = Machine::Create(hypervisor_, config_, leader_->sink.get());
  if (!a.ok()) return a.status();
  leader_->machine = std::move(*a);
  leader_->sink->set_machine(leader_->machine.get());
  auto loaded = leader_->machine->BootMultiboot(kernel, kernel_name, boot);
  if (!loaded.ok()) return loaded.status();
  if (options_.record) {
    auto recorder =
        VerifiedLogWriter::Create(*leader_->machine, *options_.record);
    if (!recorder.ok()) return recorder.status();
    recorder_ = std::move(*recorder);
  }
  auto start = CaptureCheckpoint(*leader_->machine);
  if (!start.ok()) return start.status();
  follower_ = NewReplica("B");
  auto b = RestoreCheckpoint(hypervisor_, *start, follower_->sink.get());
  if (!b.ok()) return b.status();
  follower_->machine = std::move(*b);
  follower_->sink->set_machine(follower_->machine.get());
  next_name_ = 2;
  leader_->sink->set_slot(0);
  follower_->sink->set_slot(1);
  follower_->reader = log_.AddReader(log_.Begin());
  follower_->log_offset = log_.Begin();

  // Start from one verified, shared state (the loaded kernel merged).
  if (std::optional<Trigger> failed = VerifyCheckpoint(0)) {
    return absl::InternalError(failed->detail);
  }
  std::vector<FaultSpec> faults = options_.also_inject;
  if (options_.inject) faults.insert(faults.begin(), *options_.inject);
  for (const FaultSpec& f : faults) {
    Replica& target = f.replica == ReplicaRole::kLeader ? *leader_ : *follower_;
    injectors_.push_back(std::make_unique<FaultInjector>(f));
    target.injectors.push_back(injectors_.back().get());
  }
  return absl::OkStatus();
}

std::optional<Trigger> ReplicaManager::VerifyCheckpoint(uint64_t esn) {
  Machine& a = *leader_->machine;
  Machine& b = *follower_->machine;
  auto fail = [&](std::string why) {
    return Trigger{.kind = DivergenceTrigger::kCheckpoint,
                   .esn = esn,
                   .detail = std::move(why)};
  };
  auto v = VerifyReplicas(a, b);
  if (!v.ok()) return fail(std::string(v.status().message()));
  if (!v->verified()) return fail("checkpoint mismatch: " + v->Describe());
  ReplicaPages pages[] = {{&a.memory(), &a.dirty()}, {&b.memory(), &b.dirty()}};
  auto merged = merger_->MergeVerified(pages);
  if (!merged.ok()) return fail(std::string(merged.status().message()));
  // What a third replica starts from. Taken after the merge: the base now
  // holds the verified pages, the delta the hot ones kept private. Its page
  // digests are recomputed only if a third replica is ever needed.
  auto cp = CaptureCheckpoint(a, /*copy_delta=*/true, /*page_digests=*/false);
  if (!cp.ok()) return fail(std::string(cp.status().message()));
  checkpoint_ = std::move(*cp);
  if (recorder_) {
    absl::Status s = recorder_->WriteThrough(
        esn, log_.EntriesFrom(log_.Begin()), leader_->sink->trail(),
        checkpoint_->state_hash);
    if (!s.ok()) {
      // The run goes on; the recording is lost, and the run says so.
      record_error_ = s;
      recorder_.reset();
    }
  }
  gate_.Verified(esn);
  log_.TrimThrough(esn);
  leader_->sink->ClearTrail();
  follower_->sink->ClearTrail();
  verified_esn_ = esn;
  recoveries_since_verified_ = 0;
  last_checkpoint_ns_ = HostClock::MonotonicNs();
  ++outcome_.checkpoints_verified;
  return std::nullopt;
}

absl::StatusOr<std::optional<Trigger>> ReplicaManager::RunEpoch() {
  EpochState epoch(&log_);
  epoch_.store(&epoch);
  log_.Resume();
  hangs_.Reset(leader_->machine->esn(), follower_->machine->esn(), absl::Now());
  LeaderInputs leader_inputs(this, &epoch);
  FollowerInputs follower_inputs(this, &epoch);
  LeaderObserver leader_observer(this, &epoch);
  FollowerObserver follower_observer(this, &epoch);
  // Fault injectors sit in front of their replica's observer.
  auto observer_of = [](Replica& r, RunObserver* own) -> RunObserver* {
    for (auto it = r.injectors.rbegin(); it != r.injectors.rend(); ++it) {
      (*it)->set_next(own);
      own = *it;
    }
    return own;
  };
  RunObserver* lobs = observer_of(*leader_, &leader_observer);
  RunObserver* fobs = observer_of(*follower_, &follower_observer);
  RunController leader_stop, follower_stop;
  absl::StatusOr<RunResult> lres, fres;

  // A run that fails on its own (not because the epoch is stopping) is a
  // crashed replica.
  auto crashed = [&](int role, const Replica& r, const absl::Status& s) {
    if (epoch.stopping()) return;
    epoch.Fail({.kind = DivergenceTrigger::kCrash,
                .esn = r.machine->esn(),
                .detail = absl::StrFormat("the %s failed: %s", RoleName(role),
                                          s.message()),
                .culprit = role});
  };
  std::thread follower_thread([&] {
    if (options_.pin_threads) PinToCpu(1);
    fres = RunMachine(*follower_->machine, follower_inputs, {.observer = fobs},
                      &follower_stop);
    if (!fres.ok() && absl::IsInvalidArgument(fres.status())) {
      // The leader's input does not fit the follower's state: one of the
      // two is wrong about the guest, as when it halts with no input.
      if (!epoch.stopping()) {
        epoch.Fail({.kind = DivergenceTrigger::kLog,
                    .esn = follower_->machine->esn(),
                    .detail = "the follower could not take the leader's "
                              "input: " +
                              std::string(fres.status().message())});
      }
    } else if (!fres.ok()) {
      crashed(kFollower, *follower_, fres.status());
    } else if (fres->reason != StopReason::kStopPoint &&
               fres->reason != StopReason::kInterrupted) {
      epoch.FollowerEnded(follower_->machine->esn());
    }
    epoch.ThreadDone();
  });
  auto leader_ended = [&] {
    epoch.LeaderEnded(leader_->machine->esn());
    log_.Finish();
  };
  // A leader that ended in an earlier epoch (its follower was replaced
  // since) does not run again: only the new follower catches up.
  std::optional<std::thread> leader_thread;
  if (leader_->ended) {
    lres = *leader_->ended;
    leader_ended();
    epoch.ThreadDone();
  } else {
    leader_thread.emplace([&] {
      if (options_.pin_threads) PinToCpu(0);
      lres =
          RunMachine(*leader_->machine, leader_inputs,
                     {.timeout_seconds = RemainingSeconds(), .observer = lobs},
                     &leader_stop);
      if (!lres.ok()) {
        crashed(kLeader, *leader_, lres.status());
      } else if (!epoch.stopping()) {
        leader_ended();
      }
      epoch.ThreadDone();
    });
  }

  while (!epoch.both_done() && !epoch.stopping()) {
    epoch.WaitForNews(absl::Milliseconds(20));
    if (controller_ != nullptr && controller_->stop_requested()) {
      epoch.Interrupt();
      break;
    }
    absl::Time since;
    std::optional<absl::Time> waiting;
    if (log_.waiting_for_leader(follower_->reader, &since)) waiting = since;
    absl::Time ended_at;
    const std::optional<uint64_t> fend = epoch.follower_end(&ended_at);
    if (fend && !epoch.leader_end()) {
      // The follower's guest ended. The leader must end at the same exit:
      // going past it is a divergence at once; not getting there, a hang.
      const uint64_t lesn = hangs_.reached(kLeader);
      if (lesn > *fend) {
        epoch.Fail({.kind = DivergenceTrigger::kEnd,
                    .esn = *fend,
                    .detail = absl::StrFormat(
                        "the follower ended at ESN %d, the leader went on "
                        "to ESN %d",
                        *fend, lesn)});
      } else if (absl::Now() - ended_at >
                 absl::Seconds(options_.hang_timeout_seconds)) {
        epoch.Fail({.kind = DivergenceTrigger::kHang,
                    .esn = lesn,
                    .detail = absl::StrFormat(
                        "the follower ended at ESN %d; the leader stayed at "
                        "ESN %d for %.1f s",
                        *fend, lesn, options_.hang_timeout_seconds),
                    .culprit = kLeader});
      }
    } else if (std::optional<Hang> h = hangs_.Check(absl::Now(), waiting)) {
      epoch.Fail({.kind = DivergenceTrigger::kHang,
                  .esn = h->esn,
                  .detail = h->Describe(),
                  .culprit = h->role});
    }
  }
  if (!epoch.both_done()) {
    // Stop both wherever they are: in the guest (a kick), waiting for each
    // other or the log (the abort), or hung in an injected fault.
    log_.Abort();
    leader_stop.RequestStop();
    follower_stop.RequestStop();
    for (Replica* r : {leader_.get(), follower_.get()}) {
      for (FaultInjector* i : r->injectors) i->ReleaseHang();
    }
  }
  if (leader_thread) leader_thread->join();
  follower_thread.join();
  epoch_.store(nullptr);
  released_.DrainTo(env_);

  // Ended on its own, not stopped by us (kInterrupted) or at the leader's
  // end (kStopPoint): such a replica does not run again.
  auto natural = [](const absl::StatusOr<RunResult>& r) {
    return r.ok() && r->reason != StopReason::kInterrupted &&
           r->reason != StopReason::kStopPoint;
  };
  if (natural(lres)) leader_->ended = *lres;
  if (natural(fres)) follower_->ended = *fres;
  // Aborted: stopped by the manager; cancelled: a hang released.
  // (A follower's rejected input is the log's fault as much as its own.)
  auto failed = [](const absl::StatusOr<RunResult>& r, bool follower) {
    return !r.ok() && !absl::IsAborted(r.status()) &&
           !absl::IsCancelled(r.status()) &&
           !(follower && absl::IsInvalidArgument(r.status()));
  };
  leader_->failed = failed(lres, false);
  follower_->failed = failed(fres, true);
  if (lres.ok()) leader_result_ = *lres;
  if (epoch.interrupted()) {
    RunResult r;
    r.reason = StopReason::kInterrupted;
    r.exit_status = StopExitStatus(r.reason, 0);
    r.esn = leader_->machine->esn();
    r.message = "run interrupted";
    leader_result_ = r;
    return std::optional<Trigger>();
  }
  if (std::optional<Trigger> t = epoch.trigger()) return t;
  return CheckEnd();
}

absl::StatusOr<std::optional<Trigger>> ReplicaManager::CheckEnd() {
  Machine& a = *leader_->machine;
  Machine& b = *follower_->machine;
  const RunResult& r = *leader_result_;
  // A run cut short by its time limit proves nothing either way.
  if (r.reason == StopReason::kTimeout) return std::optional<Trigger>();
  auto end = [&](std::string why) {
    return std::optional<Trigger>(
        Trigger{.kind = DivergenceTrigger::kEnd,
                .esn = a.esn(),
                .detail = std::move(why),
                .detected_ns = HostClock::MonotonicNs()});
  };
  if (b.esn() != a.esn()) {
    return end(absl::StrFormat("the follower ended at ESN %d, the leader at %d",
                               b.esn(), a.esn()));
  }
  if (r.stopped_at_exit_boundary) {
    auto v = VerifyReplicas(a, b);
    if (!v.ok()) return v.status();
    if (!v->verified()) return end("final state mismatch: " + v->Describe());
    auto hash = a.StateHash();
    if (!hash.ok()) return hash.status();
    outcome_.final_state_hash = *hash;
  }
  const OutputGateStats gs = gate_.stats();
  if (gs.pending[0] != 0 || gs.pending[1] != 0) {
    outcome_.final_state_hash.reset();
    return end(absl::StrFormat("outputs left unmatched at the end: %d and %d",
                               gs.pending[0], gs.pending[1]));
  }
  return std::optional<Trigger>();
}

absl::StatusOr<Rebuilt> ReplicaManager::Rebuild(const VotePoint& point) {
  Rebuilt out;
  out.replica = NewReplica(ReplicaName(next_name_++));
  if (checkpoint_->page_hashes == nullptr) {
    if (absl::Status s = RehashCheckpointPages(*checkpoint_); !s.ok()) return s;
  }
  auto c =
      RestoreCheckpoint(hypervisor_, *checkpoint_, out.replica->sink.get());
  if (!c.ok()) return c.status();
  out.replica->machine = std::move(*c);
  out.replica->sink->set_machine(out.replica->machine.get());
  out.replica->log_offset = log_.Begin();
  auto replay =
      ReplayToVotePoint(*out.replica->machine, log_.EntriesFrom(log_.Begin()),
                        point, RemainingSeconds());
  if (!replay.ok()) return replay.status();
  out.replay = *replay;
  out.position =
      out.replica->log_offset + out.replica->machine->inputs_applied();
  return out;
}

absl::StatusOr<bool> ReplicaManager::Agrees(Replica& c, Replica& r,
                                            uint64_t through_esn, bool states) {
  if (TrailThrough(c.sink->trail(), through_esn) !=
      TrailThrough(r.sink->trail(), through_esn)) {
    return false;
  }
  if (!states) return true;
  auto v = VerifyReplicas(*c.machine, *r.machine);
  if (!v.ok()) return v.status();
  return v->verified();
}

absl::StatusOr<bool> ReplicaManager::Recover(const Trigger& trigger) {
  DivergenceEvent event{
      .esn = trigger.esn,
      .trigger = trigger.kind,
      .detail = trigger.detail,
      .detected_at_ms = (trigger.detected_ns - start_ns_) / 1e6};
  Report(absl::StrFormat("divergence at ESN %d (%s): %s", trigger.esn,
                         DivergenceTriggerName(trigger.kind), trigger.detail));
  auto give_up = [&](const std::string& why) {
    Report("no majority, stopping fail-safe: " + why);
    outcome_.divergences.push_back(event);
    FailSafe(absl::StrFormat("%s; %s", trigger.detail, why));
    return false;
  };
  if (++recoveries_since_verified_ > kMaxRecoveriesPerCheckpoint) {
    return give_up("too many recoveries without a verified checkpoint");
  }

  Replica* replica_of[2] = {leader_.get(), follower_.get()};
  const uint64_t reached[2] = {leader_->machine->esn(),
                               follower_->machine->esn()};
  bool candidate[2] = {true, true};
  if (trigger.culprit) candidate[*trigger.culprit] = false;
  for (int role : {kLeader, kFollower}) {
    if (replica_of[role]->failed) candidate[role] = false;
  }
  // Where C stops, and how each candidate is compared with it there.
  VotePoint point;
  bool compare_states = false;
  uint64_t through = 0;
  switch (trigger.kind) {
    case DivergenceTrigger::kCheckpoint:
      point.before_checkpoint_at = trigger.esn;
      through = trigger.esn;
      compare_states = true;
      break;
    case DivergenceTrigger::kEnd:
      // The follower may be an exit past the leader's end (it runs on to
      // its next exit before it learns of the end).
      point.stop_at = std::max(reached[kLeader], reached[kFollower]);
      through = UINT64_MAX;
      compare_states = true;
      break;
    case DivergenceTrigger::kLog:
      point.before_inputs_of = trigger.esn + 1;
      through = trigger.esn;
      break;
    case DivergenceTrigger::kOutput:
    case DivergenceTrigger::kCrash:
    case DivergenceTrigger::kHang: {
      // Never past the survivor when it is the follower: C then follows
      // it as the new leader.
      through = std::min(reached[kLeader], reached[kFollower]);
      point.before_inputs_of = through;
      break;
    }
  }

  // A checkpoint the leader marked but nobody verified yet is where the
  // leader waits for its follower: C, which may become that follower, must
  // stop before it and meet the leader in that barrier, not replay past it.
  if (std::optional<uint64_t> pending =
          log_.FirstCheckpointAfter(verified_esn_);
      pending &&
      (!point.before_checkpoint_at || *pending < *point.before_checkpoint_at)) {
    point.before_checkpoint_at = pending;
  }
  auto rebuilt = Rebuild(point);
  if (!rebuilt.ok()) return give_up(std::string(rebuilt.status().message()));
  Replica& c = *rebuilt->replica;

  bool agrees[2] = {false, false};
  if (trigger.kind == DivergenceTrigger::kLog) {
    // C could not follow the log there either (no input to wake it, or
    // one that does not fit): the leader's log is wrong. C went on: the
    // follower is.
    if (rebuilt->replay.starved && c.machine->esn() == trigger.esn) {
      auto a = Agrees(c, *follower_, through, /*states=*/true);
      if (!a.ok()) return a.status();
      agrees[kFollower] = *a;
    } else if (rebuilt->replay.at_point) {
      auto a = Agrees(c, *leader_, through, /*states=*/false);
      if (!a.ok()) return a.status();
      agrees[kLeader] = *a;
    }
  } else {
    for (int role : {kLeader, kFollower}) {
      if (!candidate[role]) continue;
      Replica& r = *replica_of[role];
      bool states = compare_states;
      if (trigger.kind == DivergenceTrigger::kEnd &&
          (r.ended.has_value() != rebuilt->replay.ended.has_value() ||
           c.machine->esn() != r.machine->esn())) {
        // Not where C is: only a replica that ended (or stopped) at the
        // same exit as C can agree with it.
        continue;
      }
      auto a = Agrees(c, r, through, states);
      if (!a.ok()) return a.status();
      agrees[role] = *a;
    }
  }
  // Exactly one must agree with C. (A replica the trigger blames, or that
  // failed, is no candidate and never agrees; both agreeing means the
  // divergence did not reproduce, and nobody can be named.)
  int survivor = -1;
  if (agrees[kLeader] != agrees[kFollower]) {
    survivor = agrees[kLeader] ? kLeader : kFollower;
  }
  if (survivor < 0) {
    return give_up(agrees[kLeader] ? "the rebuilt replica agrees with both"
                                   : "the rebuilt replica agrees with neither");
  }
  const int loser = 1 - survivor;
  event.voted_out =
      loser == kLeader ? ReplicaRole::kLeader : ReplicaRole::kFollower;
  std::unique_ptr<Replica>& loser_ptr = loser == kLeader ? leader_ : follower_;
  std::unique_ptr<Replica>& survivor_ptr =
      survivor == kLeader ? leader_ : follower_;
  Report(absl::StrFormat(
      "replica %s rebuilt from the checkpoint at ESN %d agrees with the %s "
      "(%s); the %s (%s) is voted out",
      c.name, verified_esn_.load(), RoleName(survivor), survivor_ptr->name,
      RoleName(loser), loser_ptr->name));

  // The gate: C takes the loser's slot and re-submits what it emitted since
  // the checkpoint; what was released already is checked, not re-released.
  const int slot = *loser_ptr->sink->slot();
  loser_ptr->sink->set_slot(std::nullopt);
  gate_.ReplaceSlot(slot);
  if (gate_.diverged()) gate_.ClearDivergence();
  c.sink->set_slot(slot);
  for (const GateOutput& o : c.sink->trail()) {
    if (!gate_.Submit(slot, o.esn, o.view()).ok()) {
      return give_up("the rebuilt replica's outputs disagree with the gate: " +
                     (gate_.divergence() ? gate_.divergence()->ToString()
                                         : std::string("?")));
    }
  }

  if (loser == kLeader) {
    // Promote the follower. What it had not taken from the log yet was
    // placed by the faulty leader: back to the back-ends' queue, for it as
    // the new leader.
    // Where the promoted follower is in its rendezvous says what of the
    // log it has seen: the inputs at its exit once it applied them (more
    // may come while it waits halted), the marks once it took them.
    Machine& f = *follower_->machine;
    using Step = Machine::RendezvousStep;
    const Step step = f.rendezvous_step();
    const bool applied =
        step == Step::kInject || step == Step::kObserve || step == Step::kDone;
    const bool took = step != Step::kApply && step != Step::kApplyAndWake;
    const uint64_t finished = applied ? f.esn() : f.esn() - 1;
    const uint64_t marks_through = took ? f.esn() : f.esn() - 1;
    const uint64_t cut = follower_->log_offset + f.inputs_applied();
    if (rebuilt->position > cut) {
      return give_up("the rebuilt replica is ahead of the promoted follower");
    }
    env_.Requeue(log_.TruncateAt(cut, finished, marks_through));
    log_.RemoveReader(follower_->reader);
    follower_->reader = -1;
    leader_ = std::move(follower_);
  } else {
    log_.RemoveReader(follower_->reader);
  }
  follower_ = std::move(rebuilt->replica);
  follower_->reader = log_.AddReader(rebuilt->position);
  event.recovered = true;
  event.recovery_ms = MsSince(trigger.detected_ns);
  outcome_.divergences.push_back(event);
  Report(absl::StrFormat(
      "recovered in %.1f ms; replicas %s (leader) and %s (follower) go on",
      *event.recovery_ms, leader_->name, follower_->name));
  return true;
}

absl::Status ReplicaManager::FinishRecording() {
  if (!record_error_.ok()) return record_error_;
  if (!recorder_) return absl::OkStatus();
  if (outcome_.fail_safe || !leader_result_ ||
      leader_result_->reason == StopReason::kInterrupted) {
    // Only what was verified: the log ends at the last verified checkpoint.
    RunResult r;
    r.reason = StopReason::kStopPoint;
    r.esn = verified_esn_;
    r.exit_status = StopExitStatus(r.reason, 0);
    r.message = "stopped at the last verified checkpoint";
    if (absl::Status s = recorder_->Finish(r, {}, {}, /*end_rendezvous=*/true,
                                           checkpoint_->state_hash);
        !s.ok()) {
      return s;
    }
  } else {
    const RunResult& r = *leader_result_;
    const bool end_rendezvous =
        leader_->machine->rendezvous_step() == Machine::RendezvousStep::kDone &&
        (r.reason == StopReason::kTimeout ||
         r.reason == StopReason::kStopPoint);
    if (absl::Status s = recorder_->Finish(
            r, log_.EntriesFrom(log_.Begin()), leader_->sink->trail(),
            end_rendezvous,
            r.stopped_at_exit_boundary ? outcome_.final_state_hash
                                       : std::nullopt);
        !s.ok()) {
      return s;
    }
  }
  outcome_.recorded = recorder_->stats();
  return absl::OkStatus();
}

absl::StatusOr<ReplicatedOutcome> ReplicaManager::Run() {
  start_ns_ = HostClock::MonotonicNs();
  last_checkpoint_ns_ = start_ns_;
  env_.StartClock(leader_->machine->platform().clock().now_ns());
  for (;;) {
    auto trigger = RunEpoch();
    if (!trigger.ok()) return trigger.status();
    if (!*trigger) break;
    auto recovered = Recover(**trigger);
    if (!recovered.ok()) return recovered.status();
    if (!*recovered) break;
    // An end the vote settled: the survivor had ended, and C with it.
    if ((*trigger)->kind == DivergenceTrigger::kEnd && leader_->ended &&
        leader_->ended->reason != StopReason::kStopPoint) {
      leader_result_ = *leader_->ended;
      if (!gate_.diverged() && gate_.stats().pending[0] == 0 &&
          gate_.stats().pending[1] == 0) {
        break;
      }
      FailSafe("outputs left unmatched after the vote at the end");
      break;
    }
  }
  released_.DrainTo(env_);
  if (absl::Status s = env_.Finish(); !s.ok()) return s;
  if (absl::Status s = FinishRecording(); !s.ok()) return s;

  if (leader_result_) {
    outcome_.result = *leader_result_;
  } else {
    outcome_.result.esn = leader_->machine->esn();
    outcome_.result.reason = StopReason::kInterrupted;
    outcome_.result.message = outcome_.fail_safe.value_or("stopped");
  }
  if (outcome_.fail_safe) outcome_.final_state_hash.reset();
  outcome_.stats = leader_->machine->stats();
  outcome_.outputs_released = gate_.stats().released;
  outcome_.output_latency = gate_.latency();
  if (options_.inject && injectors_[0]->injected()) {
    outcome_.injected = injectors_[0]->description();
    outcome_.injected_at_ms =
        (injectors_[0]->injected_at_ns() - start_ns_) / 1e6;
  }
  return outcome_;
}

}  // namespace

absl::StatusOr<ReplicatedOutcome> RunReplicated(
    const Hypervisor& hypervisor, MachineConfig config,
    std::span<const uint8_t> kernel, std::string_view kernel_name,
    const MultibootOptions& boot, LiveEnvironment& env,
    const ReplicaOptions& options, RunController* controller) {
  if (config.memory_base != nullptr) {
    return absl::InvalidArgumentError("RunReplicated makes its own base");
  }
  ReplicaManager run(hypervisor, std::move(config), env, options, controller);
  if (absl::Status s = run.Start(kernel, kernel_name, boot); !s.ok()) return s;
  absl::StatusOr<ReplicatedOutcome> outcome = run.Run();
  if (outcome.ok()) outcome->backend = std::string(hypervisor.name());
  return outcome;
}

}  // namespace xv
