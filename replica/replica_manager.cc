#include "replica/replica_manager.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <thread>

#include "checkpoint/checkpoint.h"
#include "devices/host_clock.h"
#include "replica/follower_role.h"
#include "replica/leader_role.h"
#include "replica/progress_check.h"
#include "replica/run_end.h"

namespace xv::replica_internal {
namespace {

// Pins the calling thread to `cpu` when the machine has more than one.
void PinToCpu(int cpu) {
  if (std::thread::hardware_concurrency() < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::thread::hardware_concurrency(), &set);
  // Best effort: a cgroup may forbid it, and the run is correct unpinned.
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Fault injectors sit in front of their replica's observer.
RunObserver* ObserverChain(Replica& r, RunObserver* own) {
  for (auto it = r.injectors.rbegin(); it != r.injectors.rend(); ++it) {
    (*it)->set_next(own);
    own = *it;
  }
  return own;
}

// Ended on its own, not stopped by us (kInterrupted) or at the leader's
// end (kStopPoint): such a replica does not run again.
bool EndedOnItsOwn(const absl::StatusOr<RunResult>& r) {
  return r.ok() && r->reason != StopReason::kInterrupted &&
         r->reason != StopReason::kStopPoint;
}

// Aborted: stopped by the manager; cancelled: a hang released. (A
// follower's rejected input is the log's fault as much as its own.)
bool FailedOnItsOwn(const absl::StatusOr<RunResult>& r, bool follower) {
  return !r.ok() && !absl::IsAborted(r.status()) &&
         !absl::IsCancelled(r.status()) &&
         !(follower && absl::IsInvalidArgument(r.status()));
}

RunResult InterruptedAt(uint64_t esn) {
  RunResult r;
  r.reason = StopReason::kInterrupted;
  r.exit_status = StopExitStatus(r.reason, 0);
  r.esn = esn;
  r.message = "run interrupted";
  return r;
}

}  // namespace

struct ReplicaManager::EpochRuns {
  RunController leader_stop;
  RunController follower_stop;
  absl::StatusOr<RunResult> leader;
  absl::StatusOr<RunResult> follower;
  std::optional<std::thread> leader_thread;
  std::thread follower_thread;
};

std::unique_ptr<Replica> ReplicaManager::NewReplica(std::string name) {
  auto r = std::make_unique<Replica>();
  r->name = std::move(name);
  r->sink = std::make_unique<ReplicaSink>(&gate_);
  r->sink->set_on_divergence([this](const GateOutput& o) {
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
  // By default the zero pages shmem allocates on first writes wait for the
  // next merge to fill them (see ReplicaOptions::reclaim_zero_pages).
  (*base)->set_reclaims_zero_pages(options_.reclaim_zero_pages);
  config_.memory_base = *base;
  checkpoints_ = std::make_unique<CheckpointVerifier>(*base);
  recovery_ = std::make_unique<Recovery>(
      hypervisor_, gate_, log_, env_, *checkpoints_,
      Recovery::Hooks{
          .new_replica =
              [this] { return NewReplica(ReplicaName(next_name_++)); },
          .report = [this](const ReplicaEvent& event) { Report(event); },
          .seconds_left = [this] { return RemainingSeconds(); }});

  if (absl::Status s = BootLeader(kernel, kernel_name, boot); !s.ok()) return s;
  if (absl::Status s = StartFollower(); !s.ok()) return s;
  // Start from one verified, shared state (the loaded kernel merged).
  if (std::optional<Trigger> failed = VerifyCheckpoint(0)) {
    return absl::InternalError(failed->detail);
  }
  PlaceFaults();
  return absl::OkStatus();
}

absl::Status ReplicaManager::BootLeader(std::span<const uint8_t> kernel,
                                        std::string_view kernel_name,
                                        const MultibootOptions& boot) {
  replicas_.leader = NewReplica("A");
  Replica& leader = *replicas_.leader;
  auto a = Machine::Create(hypervisor_, config_, leader.sink.get());
  if (!a.ok()) return a.status();
  leader.machine = std::move(*a);
  leader.sink->set_machine(leader.machine.get());
  auto loaded = leader.machine->BootMultiboot(kernel, kernel_name, boot);
  if (!loaded.ok()) return loaded.status();
  if (options_.record) {
    auto writer = VerifiedLogWriter::Create(*leader.machine, *options_.record);
    if (!writer.ok()) return writer.status();
    recording_ = std::make_unique<RunRecording>(std::move(*writer));
  }
  return absl::OkStatus();
}

absl::Status ReplicaManager::StartFollower() {
  auto start = CaptureCheckpoint(*replicas_.leader->machine);
  if (!start.ok()) return start.status();
  replicas_.follower = NewReplica("B");
  Replica& follower = *replicas_.follower;
  const Hypervisor& backend = options_.follower_hypervisor != nullptr
                                  ? *options_.follower_hypervisor
                                  : hypervisor_;
  auto b = RestoreCheckpoint(backend, *start, follower.sink.get());
  if (!b.ok()) return b.status();
  follower.machine = std::move(*b);
  follower.sink->set_machine(follower.machine.get());
  next_name_ = 2;
  replicas_.leader->sink->set_slot(0);
  follower.sink->set_slot(1);
  follower.reader = log_.AddReader(log_.Begin());
  follower.log_offset = log_.Begin();
  return absl::OkStatus();
}

void ReplicaManager::PlaceFaults() {
  std::vector<FaultSpec> faults = options_.also_inject;
  if (options_.inject) faults.insert(faults.begin(), *options_.inject);
  for (const FaultSpec& f : faults) {
    Replica& target = f.replica == ReplicaRole::kLeader ? *replicas_.leader
                                                        : *replicas_.follower;
    injectors_.push_back(std::make_unique<FaultInjector>(f));
    target.injectors.push_back(injectors_.back().get());
  }
}

std::optional<Trigger> ReplicaManager::VerifyCheckpoint(uint64_t esn) {
  Replica& leader = *replicas_.leader;
  Replica& follower = *replicas_.follower;
  if (std::optional<Trigger> failed = checkpoints_->VerifyAndMerge(
          esn, *leader.machine, *follower.machine)) {
    return failed;
  }
  if (recording_) {
    recording_->WriteThrough(esn, log_.EntriesFrom(log_.Begin()),
                             leader.sink->trail(),
                             checkpoints_->last().state_hash);
  }
  gate_.Verified(esn);
  log_.TrimThrough(esn);
  leader.sink->ClearTrail();
  follower.sink->ClearTrail();
  checkpoints_->MarkVerified(esn);
  recovery_->CheckpointVerified();
  return std::nullopt;
}

absl::StatusOr<std::optional<Trigger>> ReplicaManager::RunEpoch() {
  EpochState epoch(&log_,
                   [this](uint64_t esn) { return VerifyCheckpoint(esn); });
  epoch_.store(&epoch);
  log_.Resume();
  Replica& leader = *replicas_.leader;
  Replica& follower = *replicas_.follower;
  hangs_.Reset(leader.machine->esn(), follower.machine->esn(), absl::Now());
  LeaderInputs leader_inputs(&epoch, &hangs_, &env_, &released_, &gate_,
                             *leader.sink->slot());
  FollowerInputs follower_inputs(&epoch, &hangs_, &log_, follower.reader);
  LeaderObserver leader_observer(&epoch, &log_, checkpoints_.get(), &options_);
  FollowerObserver follower_observer(&epoch, &log_, checkpoints_.get());
  EpochRuns runs;
  StartFollowerThread(epoch, follower_inputs,
                      ObserverChain(follower, &follower_observer), runs);
  StartLeaderThread(epoch, leader_inputs,
                    ObserverChain(leader, &leader_observer), runs);
  Watch(epoch);
  StopAndJoin(epoch, runs);
  epoch_.store(nullptr);
  released_.DrainTo(env_);
  return SettleEpoch(epoch, runs);
}

void ReplicaManager::StartFollowerThread(EpochState& epoch, InputSource& inputs,
                                         RunObserver* observer,
                                         EpochRuns& runs) {
  runs.follower_thread = std::thread([this, epoch = &epoch, inputs = &inputs,
                                      observer, runs = &runs,
                                      follower = replicas_.follower.get()] {
    if (options_.pin_threads) PinToCpu(1);
    runs->follower = RunMachine(*follower->machine, *inputs,
                                {.observer = observer}, &runs->follower_stop);
    ReportFollowerRunEnd(*epoch, follower->machine->esn(), runs->follower);
    epoch->ThreadDone();
  });
}

void ReplicaManager::StartLeaderThread(EpochState& epoch, InputSource& inputs,
                                       RunObserver* observer, EpochRuns& runs) {
  Replica* leader = replicas_.leader.get();
  // A leader that ended in an earlier epoch (its follower was replaced
  // since) does not run again: only the new follower catches up.
  if (leader->ended) {
    runs.leader = *leader->ended;
    epoch.LeaderEnded(leader->machine->esn());
    epoch.ThreadDone();
    return;
  }
  runs.leader_thread.emplace(
      [this, epoch = &epoch, inputs = &inputs, observer, runs = &runs, leader] {
        if (options_.pin_threads) PinToCpu(0);
        runs->leader = RunMachine(
            *leader->machine, *inputs,
            {.timeout_seconds = RemainingSeconds(), .observer = observer},
            &runs->leader_stop);
        ReportLeaderRunEnd(*epoch, leader->machine->esn(), runs->leader);
        epoch->ThreadDone();
      });
}

void ReplicaManager::Watch(EpochState& epoch) {
  while (!epoch.both_done() && !epoch.stopping()) {
    epoch.WaitForNews(absl::Milliseconds(20));
    if (controller_ != nullptr && controller_->stop_requested()) {
      epoch.Interrupt();
      break;
    }
    if (std::optional<Trigger> t =
            CheckProgress(epoch, hangs_, log_, replicas_.follower->reader,
                          options_.hang_timeout_seconds)) {
      epoch.Fail(std::move(*t));
    }
  }
}

void ReplicaManager::StopAndJoin(EpochState& epoch, EpochRuns& runs) {
  if (!epoch.both_done()) {
    // Stop both wherever they are: in the guest (a kick), waiting for each
    // other or the log (the abort), or hung in an injected fault.
    log_.Abort();
    runs.leader_stop.RequestStop();
    runs.follower_stop.RequestStop();
    for (Replica* r : {replicas_.leader.get(), replicas_.follower.get()}) {
      for (FaultInjector* i : r->injectors) i->ReleaseHang();
    }
  }
  if (runs.leader_thread) runs.leader_thread->join();
  runs.follower_thread.join();
}

absl::StatusOr<std::optional<Trigger>> ReplicaManager::SettleEpoch(
    EpochState& epoch, EpochRuns& runs) {
  Replica& leader = *replicas_.leader;
  Replica& follower = *replicas_.follower;
  if (EndedOnItsOwn(runs.leader)) leader.ended = *runs.leader;
  if (EndedOnItsOwn(runs.follower)) follower.ended = *runs.follower;
  leader.failed = FailedOnItsOwn(runs.leader, /*follower=*/false);
  follower.failed = FailedOnItsOwn(runs.follower, /*follower=*/true);
  if (runs.leader.ok()) leader_result_ = *runs.leader;
  if (epoch.interrupted()) {
    leader_result_ = InterruptedAt(leader.machine->esn());
    return std::optional<Trigger>();
  }
  if (std::optional<Trigger> t = epoch.trigger()) return t;
  return CheckEnd(*leader.machine, *follower.machine, *leader_result_, gate_,
                  outcome_.final_state_hash);
}

absl::StatusOr<bool> ReplicaManager::Recover(const Trigger& trigger) {
  auto recovered = recovery_->Recover(trigger, replicas_, start_ns_);
  if (!recovered.ok()) return recovered.status();
  outcome_.divergences.push_back(recovered->event);
  if (recovered->fail_safe) {
    FailSafe(*recovered->fail_safe);
    return false;
  }
  return true;
}

bool ReplicaManager::EndSettledByVote(const Trigger& trigger) {
  const Replica& leader = *replicas_.leader;
  if (trigger.kind != DivergenceTrigger::kEnd || !leader.ended ||
      leader.ended->reason == StopReason::kStopPoint) {
    return false;
  }
  leader_result_ = *leader.ended;
  const OutputGateStats gs = gate_.stats();
  if (gate_.diverged() || gs.pending[0] != 0 || gs.pending[1] != 0) {
    FailSafe("outputs left unmatched after the vote at the end");
  }
  return true;
}

absl::Status ReplicaManager::RunToTheEnd() {
  for (;;) {
    auto trigger = RunEpoch();
    if (!trigger.ok()) return trigger.status();
    if (!*trigger) return absl::OkStatus();
    auto recovered = Recover(**trigger);
    if (!recovered.ok()) return recovered.status();
    if (!*recovered || EndSettledByVote(**trigger)) return absl::OkStatus();
  }
}

absl::Status ReplicaManager::FinishRecording() {
  if (!recording_) return absl::OkStatus();
  absl::Status s;
  if (outcome_.fail_safe || !leader_result_ ||
      leader_result_->reason == StopReason::kInterrupted) {
    // Only what was verified: the log ends at the last verified checkpoint.
    s = recording_->FinishAtCheckpoint(checkpoints_->verified_esn(),
                                       checkpoints_->last().state_hash);
  } else {
    const RunResult& r = *leader_result_;
    const Machine& leader = *replicas_.leader->machine;
    const bool end_rendezvous =
        leader.rendezvous_step() == Machine::RendezvousStep::kDone &&
        (r.reason == StopReason::kTimeout ||
         r.reason == StopReason::kStopPoint);
    s = recording_->FinishRun(
        r, log_.EntriesFrom(log_.Begin()), replicas_.leader->sink->trail(),
        end_rendezvous,
        r.stopped_at_exit_boundary ? outcome_.final_state_hash : std::nullopt);
  }
  if (!s.ok()) return s;
  outcome_.recorded = recording_->stats();
  return absl::OkStatus();
}

std::optional<double> ReplicaManager::RemainingSeconds() const {
  if (!options_.timeout_seconds) return std::nullopt;
  return std::max(0.001, *options_.timeout_seconds -
                             (HostClock::MonotonicNs() - start_ns_) / 1e9);
}

absl::StatusOr<ReplicatedOutcome> ReplicaManager::Run() {
  start_ns_ = HostClock::MonotonicNs();
  checkpoints_->StartClock(start_ns_);
  env_.StartClock(replicas_.leader->machine->platform().clock().now_ns());
  if (absl::Status s = RunToTheEnd(); !s.ok()) return s;
  released_.DrainTo(env_);
  if (absl::Status s = env_.Finish(); !s.ok()) return s;
  if (absl::Status s = FinishRecording(); !s.ok()) return s;
  CompleteOutcome(outcome_, leader_result_, *replicas_.leader->machine, gate_,
                  checkpoints_->verified_count(),
                  options_.inject ? injectors_[0].get() : nullptr, start_ns_);
  return outcome_;
}

}  // namespace xv::replica_internal
