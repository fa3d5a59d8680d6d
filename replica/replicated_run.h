// RunReplicated: one guest run as two replicas (DESIGN §4) — a leader that
// takes the live inputs and a follower that applies them at the same ESNs,
// each on its own thread (pinned to its own core when there are two), both
// views of one copy-on-write base. Every output passes the OutputGate: it
// reaches the back-ends only once both replicas produced it. At ESNs the
// leader chooses (every N exits or every T ms) both stop, are verified
// (VerifyReplicas) and merged (PageMerger), and the verified state is kept
// as the checkpoint a third replica starts from.
//
// Divergence (an output mismatch, a checkpoint mismatch, a replica that
// crashes, a replica that hangs, different ends) stops both replicas. A
// third replica C is restored from the last verified checkpoint and replays
// the retained log to the divergence point; a 2-of-3 vote names the faulty
// replica, which is destroyed, and C takes its place (a faulty leader is
// replaced by promoting the follower; the inputs the follower had not yet
// taken are re-queued for it). Without a majority the run stops fail-safe:
// nothing unverified is ever released.
#ifndef EXTRAVIRT_REPLICA_REPLICATED_RUN_H_
#define EXTRAVIRT_REPLICA_REPLICATED_RUN_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "hypervisor/guest_cpu.h"
#include "machine/live_environment.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/fault_spec.h"
#include "replica/output_gate.h"
#include "replica/verified_log_writer.h"

namespace xv {

enum class ReplicaEventKind {
  kDivergence,  // the replicas disagreed
  kVote,        // a third replica named the faulty one
  kRecovered,   // the faulty one was replaced; the run goes on
  kFailSafe,    // no majority: the run stops, releasing nothing more
};

struct ReplicaEvent {
  ReplicaEventKind kind;
  uint64_t esn;      // the divergence point the event belongs to
  std::string line;  // for people: "divergence at ESN 75 (checkpoint): ..."
};

struct ReplicaOptions {
  // Verified checkpoints every this many exits; 0: none by count.
  uint64_t checkpoint_every = 20'000;
  // And/or every this many milliseconds of the leader's wall time.
  std::optional<double> checkpoint_ms;
  std::optional<double> timeout_seconds;
  // A replica that stays behind the other this long without reaching a
  // further exit is hung (a wait for inputs does not count).
  double hang_timeout_seconds = 2.0;
  // How far (in log entries) the follower may lag before the leader waits.
  size_t channel_capacity = 4096;
  // A fault to inject into one replica (tests, campaigns).
  std::optional<FaultSpec> inject;
  // More faults, e.g. one in each replica so that no majority exists
  // (tests of the fail-safe stop). Not reported in `injected`.
  std::vector<FaultSpec> also_inject;
  // Pin the leader and the follower to separate cores when there are two.
  bool pin_threads = true;
  // Give back the zero pages shmem allocates in the base on a replica's
  // first write to a page (ZeroPageReclaimer), instead of leaving them for
  // the next merge to fill. Saves up to the memory written between two
  // checkpoints (memtouch: 3.0x a plain run's footprint without, 2.1-2.4x
  // with) and costs a KVM refault per page under PVM (memtouch: 1.15x a
  // plain run's time without, 2.1x with). benchmarks/RESULTS.md.
  bool reclaim_zero_pages = false;
  // Told each divergence, vote and recovery as it happens; optional.
  std::function<void(const ReplicaEvent&)> on_event;
  // Write the verified nondeterminism log to a file (`replicate --record`).
  std::optional<ReplicaRecording> record;
  // The follower's CPU backend (must outlive the run); unset: the
  // leader's. Another backend is design diversity: the pair then also
  // catches a fault of one CPU implementation. Third replicas and
  // replacements run on the leader's backend.
  const Hypervisor* follower_hypervisor = nullptr;
};

enum class DivergenceTrigger {
  kOutput,      // the replicas' outputs differ
  kCheckpoint,  // their states differ at a checkpoint
  kCrash,       // one failed on its own
  kHang,        // one stopped making progress
  kEnd,         // they ended differently
  kLog,         // the follower could not follow the leader's log
};
std::string_view DivergenceTriggerName(DivergenceTrigger trigger);

// One divergence and what came of it.
struct DivergenceEvent {
  uint64_t esn = 0;  // where it was detected: the divergence point
  DivergenceTrigger trigger = DivergenceTrigger::kOutput;
  std::string detail;  // what differed, for people
  // Who the vote named faulty; unset when there was no majority.
  std::optional<ReplicaRole> voted_out;
  bool recovered = false;
  // Detection to both replicas running again (recovered only).
  std::optional<double> recovery_ms;
  // Host time from the start of the run to detection.
  double detected_at_ms = 0;
};

struct ReplicatedOutcome {
  // The backend the replicas ran on ("kvm"), and the follower's.
  std::string backend;
  std::string follower_backend;
  RunResult result;  // the (last) leader's run
  ExitStats stats;   // the (last) leader's exits
  uint64_t checkpoints_verified = 0;
  uint64_t outputs_released = 0;
  // Every divergence, in order. The run stopped fail-safe iff `fail_safe`.
  std::vector<DivergenceEvent> divergences;
  // Set when the run stopped fail-safe: why.
  std::optional<std::string> fail_safe;
  // Both replicas' final state, when they ended at one exit and agreed.
  std::optional<Hash128> final_state_hash;
  GateLatency output_latency;
  // What the injected fault did ("rbx bit 3 flipped at ESN 40 (follower)"),
  // if it was reached, and when (host time from the start of the run).
  std::optional<std::string> injected;
  std::optional<double> injected_at_ms;
  // Set when the run was recorded.
  std::optional<RecorderStats> recorded;
};

// `config.memory_base` must be unset (the run makes its own base). Errors
// are host failures; a divergence is an outcome.
absl::StatusOr<ReplicatedOutcome> RunReplicated(
    const Hypervisor& hypervisor, MachineConfig config,
    std::span<const uint8_t> kernel, std::string_view kernel_name,
    const MultibootOptions& boot, LiveEnvironment& env,
    const ReplicaOptions& options, RunController* controller = nullptr);

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_REPLICATED_RUN_H_
