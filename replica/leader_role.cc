#include "replica/leader_role.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "devices/host_clock.h"
#include "replica/replica.h"

namespace xv::replica_internal {

absl::Status LeaderInputs::Poll(const Machine& m,
                                std::vector<InputEvent>& out) {
  if (epoch_->stopping()) return absl::AbortedError("stopping");
  hangs_->Reached(kLeader, m.esn(), absl::Now());
  released_->DrainTo(*env_);
  return env_->Poll(m, out);
}

absl::Status LeaderInputs::WaitForWakeup(const Machine& m, uint64_t deadline_ns,
                                         std::vector<InputEvent>& out) {
  hangs_->LeaderIdle(true, absl::Now());
  absl::Status s = Wait(m, deadline_ns, out);
  hangs_->LeaderIdle(false, absl::Now());
  return s;
}

absl::Status LeaderInputs::Wait(const Machine& m, uint64_t deadline_ns,
                                std::vector<InputEvent>& out) {
  constexpr uint64_t kStepNs = 2'000'000;
  for (;;) {
    released_->DrainTo(*env_);
    if (epoch_->stopping()) return absl::AbortedError("stopping");
    const uint64_t now = HostClock::MonotonicNs();
    absl::Status s =
        env_->WaitForWakeup(m, std::min(deadline_ns, now + kStepNs), out);
    if (!out.empty()) return s;
    if (absl::IsFailedPrecondition(s)) {
      if (!OutputsMayStillBeReleased()) return s;
      continue;
    }
    if (!s.ok()) return s;
    if (HostClock::MonotonicNs() >= deadline_ns) return absl::OkStatus();
  }
}

bool LeaderInputs::OutputsMayStillBeReleased() {
  // An output of the leader's may still be in the gate or on its way out
  // (a disk read request). Nothing of the leader's pending or in flight
  // when the stats were read means nothing can become released later,
  // since this thread submits the leader's outputs: then drain once more.
  const OutputGateStats st = gate_->stats();
  if (released_->DrainTo(*env_) > 0) return true;
  if (st.pending[slot_] == 0 && st.verified == st.released) return false;
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

absl::Status LeaderObserver::OnInput(const Machine& m,
                                     const InputEvent& input) {
  log_->Append(m.esn(), input);
  return absl::OkStatus();
}

absl::Status LeaderObserver::AtRendezvous(Machine& m) {
  const uint64_t esn = m.esn();
  if (!log_->WaitForRoom()) return absl::AbortedError("stopping");
  bool checkpoint = log_->IsCheckpoint(esn);
  if (!checkpoint && esn > checkpoints_->verified_esn() && Due(esn)) {
    log_->MarkCheckpoint(esn);
    checkpoint = true;
  }
  log_->Finalize(esn);
  if (checkpoint && esn > checkpoints_->verified_esn()) {
    // Each replica completes its own pending I/O on its own thread.
    if (absl::Status s = m.SyncMemory(); !s.ok()) return s;
    if (!epoch_->Checkpoint(kLeader, esn)) {
      return absl::AbortedError("stopping");
    }
  }
  if (epoch_->stopping()) return absl::AbortedError("stopping");
  return absl::OkStatus();
}

bool LeaderObserver::Due(uint64_t esn) const {
  const ReplicaOptions& o = *options_;
  if (o.checkpoint_every != 0 && esn % o.checkpoint_every == 0) return true;
  return o.checkpoint_ms &&
         checkpoints_->ms_since_verified() >= *o.checkpoint_ms;
}

void ReportLeaderRunEnd(EpochState& epoch, uint64_t esn,
                        const absl::StatusOr<RunResult>& result) {
  if (!result.ok()) {
    epoch.Crashed(kLeader, esn, result.status());
  } else if (!epoch.stopping()) {
    epoch.LeaderEnded(esn);
  }
}

}  // namespace xv::replica_internal
