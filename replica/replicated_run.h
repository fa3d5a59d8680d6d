// RunReplicated: one guest run as two replicas (DESIGN §4) — a leader that
// takes the live inputs and a follower that consumes them through the
// LogChannel at the same ESNs, each on its own thread, both views of one
// copy-on-write base. Every output passes the OutputGate: it reaches the
// back-ends only once both replicas produced it. Every `checkpoint_every`
// exits both stop, are verified (VerifyReplicas) and merged (PageMerger).
//
// This first version detects divergence (an output mismatch, a checkpoint
// mismatch, a replica that fails) and stops fail-safe: nothing unverified is
// released, and the report says what diverged. Recovery by a third replica
// and the vote are still to come (issue 5).
#ifndef EXTRAVIRT_REPLICA_REPLICATED_RUN_H_
#define EXTRAVIRT_REPLICA_REPLICATED_RUN_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "kvm/kvm_system.h"
#include "machine/live_environment.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/fault_spec.h"
#include "replica/output_gate.h"

namespace xv {

struct ReplicaOptions {
  // Verified checkpoints every this many exits; 0: only at the end.
  uint64_t checkpoint_every = 20'000;
  std::optional<double> timeout_seconds;
  size_t channel_capacity = 4096;
  // A fault to inject into one replica (tests, campaigns). Not a hang: the
  // run cannot detect one yet, and would wait for it forever.
  std::optional<FaultSpec> inject;
};

struct ReplicatedOutcome {
  RunResult result;  // the leader's run
  ExitStats stats;   // the leader's exits
  uint64_t checkpoints_verified = 0;
  uint64_t outputs_released = 0;
  // Set when the replicas diverged: what, where; the run stopped fail-safe.
  std::optional<std::string> divergence;
  // Both replicas' final state, when they ended at one exit and agreed.
  std::optional<Hash128> final_state_hash;
  GateLatency output_latency;
  // What the injected fault did ("rbx bit 3 flipped at ESN 40 (follower)"),
  // if it was reached.
  std::optional<std::string> injected;
};

// `config.memory_base` must be unset (the run makes its own base). Errors
// are host failures; a divergence is an outcome.
absl::StatusOr<ReplicatedOutcome> RunReplicated(
    const KvmSystem& kvm, MachineConfig config, std::span<const uint8_t> kernel,
    std::string_view kernel_name, const MultibootOptions& boot,
    LiveEnvironment& env, const ReplicaOptions& options,
    RunController* controller = nullptr);

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_REPLICATED_RUN_H_
