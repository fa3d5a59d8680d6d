#include "replica/run_end.h"

#include <string>

#include "absl/strings/str_format.h"
#include "checkpoint/verify.h"
#include "devices/host_clock.h"

namespace xv::replica_internal {

absl::StatusOr<std::optional<Trigger>> CheckEnd(
    Machine& leader, Machine& follower, const RunResult& result,
    const OutputGate& gate, std::optional<Hash128>& final_state_hash) {
  // A run cut short by its time limit proves nothing either way.
  if (result.reason == StopReason::kTimeout) return std::optional<Trigger>();
  auto end = [&](std::string why) {
    return std::optional<Trigger>(
        Trigger{.kind = DivergenceTrigger::kEnd,
                .esn = leader.esn(),
                .detail = std::move(why),
                .detected_ns = HostClock::MonotonicNs()});
  };
  if (follower.esn() != leader.esn()) {
    return end(absl::StrFormat("the follower ended at ESN %d, the leader at %d",
                               follower.esn(), leader.esn()));
  }
  if (result.stopped_at_exit_boundary) {
    auto v = VerifyReplicas(leader, follower);
    if (!v.ok()) return v.status();
    if (!v->verified()) return end("final state mismatch: " + v->Describe());
    auto hash = leader.StateHash();
    if (!hash.ok()) return hash.status();
    final_state_hash = *hash;
  }
  const OutputGateStats gs = gate.stats();
  if (gs.pending[0] != 0 || gs.pending[1] != 0) {
    final_state_hash.reset();
    return end(absl::StrFormat("outputs left unmatched at the end: %d and %d",
                               gs.pending[0], gs.pending[1]));
  }
  return std::optional<Trigger>();
}

void CompleteOutcome(ReplicatedOutcome& outcome,
                     const std::optional<RunResult>& leader_result,
                     const Machine& leader, const OutputGate& gate,
                     uint64_t checkpoints_verified,
                     const FaultInjector* injected, uint64_t start_ns) {
  if (leader_result) {
    outcome.result = *leader_result;
  } else {
    outcome.result.esn = leader.esn();
    outcome.result.reason = StopReason::kInterrupted;
    outcome.result.message = outcome.fail_safe.value_or("stopped");
  }
  if (outcome.fail_safe) outcome.final_state_hash.reset();
  outcome.stats = leader.stats();
  outcome.checkpoints_verified = checkpoints_verified;
  outcome.outputs_released = gate.stats().released;
  outcome.output_latency = gate.latency();
  if (injected != nullptr && injected->injected()) {
    outcome.injected = injected->description();
    outcome.injected_at_ms = (injected->injected_at_ns() - start_ns) / 1e6;
  }
}

}  // namespace xv::replica_internal
