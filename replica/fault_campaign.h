// Fault-injection campaign (issue 5): what one run with an injected fault
// came to, judged against the fault-free ("golden") run of the same guest
// and inputs, and the tally of many such runs.
//
// The judgement only looks at what left the replicas — the serial bytes the
// output gate released and the exit status — and at what the replica
// manager reported (divergences, a fail-safe stop). It does not depend on
// RunReplicated: the caller converts a ReplicatedOutcome into a
// FaultRunOutcome (cli/campaign_command.cc does).
//
// Classes, checked in this order:
//   silent_corruption  something released differs from the golden run: the
//                      output is not a prefix of the golden output, or the
//                      guest ran to its end with another output or exit
//                      status. The one outcome replication must never have.
//   fail_safe          the run stopped fail-safe (no majority), releasing a
//                      prefix of the golden output.
//   not_injected       the fault's ESN was never reached (the run was
//                      shorter), and nothing diverged: excluded from the
//                      percentages.
//   masked             no divergence; output and exit status are golden.
//   recovered          one or more divergences, every one recovered;
//                      output and exit status are golden.
//   unexplained        safe (only a golden prefix released) but none of the
//                      above: a run that timed out or failed on the host, a
//                      divergence neither recovered nor stopped fail-safe,
//                      or a divergence with no fault injected. Listed with
//                      the reason; a bug in the manager or the campaign.
#ifndef EXTRAVIRT_REPLICA_FAULT_CAMPAIGN_H_
#define EXTRAVIRT_REPLICA_FAULT_CAMPAIGN_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/percentile.h"

namespace xv {

enum class FaultClass {
  kMasked,
  kRecovered,
  kFailSafe,
  kSilentCorruption,
  kNotInjected,
  kUnexplained,
};
inline constexpr int kNumFaultClasses = 6;

// "masked", "recovered", "fail_safe", "silent_corruption", "not_injected",
// "unexplained".
std::string_view FaultClassName(FaultClass c);

// The fault-free run every injected run is compared with.
struct GoldenRun {
  std::string output;  // released serial bytes
  int exit_status = 0;
};

// One divergence as the replica manager reported it (DivergenceEvent).
struct FaultRunDivergence {
  uint64_t esn = 0;
  std::string trigger;  // DivergenceTriggerName(): what detected it
  bool recovered = false;
  std::optional<double> recovery_ms;
  double detected_at_ms = 0;  // from the start of the run
};

// One run with an injected fault, as seen from outside the replicas.
struct FaultRunOutcome {
  std::string output;  // the serial bytes the gate released
  int exit_status = 0;
  // The guest ran to its own end (debug-exit, a crash of the guest, ...),
  // not stopped by a timeout, a signal or a host failure.
  bool completed = true;
  bool fail_safe = false;
  std::vector<FaultRunDivergence> divergences;
  // The fault's ESN was reached and the fault applied, and when.
  bool injected = false;
  std::optional<double> injected_at_ms;
  // RunReplicated failed on the host side; `output` still holds what had
  // been released before.
  std::optional<std::string> host_error;
};

struct Classification {
  FaultClass fault_class = FaultClass::kMasked;
  std::string reason;  // one line, for people
};

Classification ClassifyFaultRun(const GoldenRun& golden,
                                const FaultRunOutcome& run);

// Counts per class and the latencies of many runs.
class FaultCampaignTally {
 public:
  // Detection latency: the first divergence's detected_at_ms minus
  // injected_at_ms (runs with an injected fault, a divergence and both
  // times). Recovery: every recovered divergence's recovery_ms.
  void Add(const FaultRunOutcome& run, const Classification& c);

  uint64_t runs() const { return runs_; }
  uint64_t count(FaultClass c) const { return counts_[static_cast<size_t>(c)]; }
  // Runs the percentages are over: all but not_injected.
  uint64_t injected_runs() const {
    return runs_ - count(FaultClass::kNotInjected);
  }
  // count(c) as a percentage of injected_runs(); 0 when there are none.
  double percent(FaultClass c) const;

  Percentiles detection_latency_ms() const {
    return MedianAndP99(detection_ms_);
  }
  Percentiles recovery_ms() const { return MedianAndP99(recovery_ms_); }

 private:
  uint64_t runs_ = 0;
  std::array<uint64_t, kNumFaultClasses> counts_{};
  std::vector<double> detection_ms_;
  std::vector<double> recovery_ms_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_FAULT_CAMPAIGN_H_
