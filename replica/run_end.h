// How a replicated run ends (DESIGN §4): the checks once both replicas'
// runs ended (the same exit, the same state, every output matched), and the
// outcome assembled from what the run left. Internal to RunReplicated.
#ifndef EXTRAVIRT_REPLICA_RUN_END_H_
#define EXTRAVIRT_REPLICA_RUN_END_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "replica/epoch_state.h"
#include "replica/fault_injector.h"
#include "replica/output_gate.h"
#include "replica/replicated_run.h"

namespace xv::replica_internal {

// Both runs ended, the leader's with `result`. A difference is an
// end_mismatch trigger. `final_state_hash` is set when the states were
// compared and matched, and cleared again if outputs were left unmatched.
// Errors are host failures.
absl::StatusOr<std::optional<Trigger>> CheckEnd(
    Machine& leader, Machine& follower, const RunResult& result,
    const OutputGate& gate, std::optional<Hash128>& final_state_hash);

// What the outcome says beyond the divergences, the fail-safe reason and
// the final state hash the run set as it went. `leader_result`: the last
// leader's result, unset if it never finished a run. `injected`: the
// reported fault's injector, if there was one.
void CompleteOutcome(ReplicatedOutcome& outcome,
                     const std::optional<RunResult>& leader_result,
                     const Machine& leader, const OutputGate& gate,
                     uint64_t checkpoints_verified,
                     const FaultInjector* injected, uint64_t start_ns);

}  // namespace xv::replica_internal

#endif  // EXTRAVIRT_REPLICA_RUN_END_H_
