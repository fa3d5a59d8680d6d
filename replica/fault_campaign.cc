#include "replica/fault_campaign.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

// The first index where `a` and `b` differ, or the shorter one's length.
size_t FirstDifference(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  return static_cast<size_t>(
      std::mismatch(a.begin(), a.begin() + n, b.begin()).first - a.begin());
}

Classification Class(FaultClass c, std::string reason) {
  return {c, std::move(reason)};
}

}  // namespace

std::string_view FaultClassName(FaultClass c) {
  switch (c) {
    case FaultClass::kMasked:
      return "masked";
    case FaultClass::kRecovered:
      return "recovered";
    case FaultClass::kFailSafe:
      return "fail_safe";
    case FaultClass::kSilentCorruption:
      return "silent_corruption";
    case FaultClass::kNotInjected:
      return "not_injected";
    case FaultClass::kUnexplained:
      return "unexplained";
  }
  return "?";
}

Classification ClassifyFaultRun(const GoldenRun& golden,
                                const FaultRunOutcome& run) {
  const std::string_view want = golden.output;
  const std::string_view got = run.output;
  // Safety first, whatever the manager reported.
  if (!want.starts_with(got)) {
    const size_t at = FirstDifference(got, want);
    return Class(
        FaultClass::kSilentCorruption,
        at < want.size()
            ? absl::StrFormat("released output differs from the golden run's "
                              "at byte %d of %d",
                              at, got.size())
            : absl::StrFormat("released %d bytes, more than the golden "
                              "run's %d",
                              got.size(), want.size()));
  }
  if (run.fail_safe) {
    return Class(FaultClass::kFailSafe,
                 absl::StrFormat("stopped fail-safe after releasing %d of %d "
                                 "bytes%s",
                                 got.size(), want.size(),
                                 run.injected ? "" : " (no fault injected)"));
  }
  if (run.completed && !run.host_error) {
    if (got.size() != want.size()) {
      return Class(FaultClass::kSilentCorruption,
                   absl::StrFormat("ran to its end having released %d of "
                                   "the golden run's %d bytes",
                                   got.size(), want.size()));
    }
    if (run.exit_status != golden.exit_status) {
      return Class(FaultClass::kSilentCorruption,
                   absl::StrFormat("ran to its end with exit status %d, the "
                                   "golden run's is %d",
                                   run.exit_status, golden.exit_status));
    }
  }
  if (run.host_error) {
    return Class(FaultClass::kUnexplained, "host error: " + *run.host_error);
  }
  if (!run.completed) {
    return Class(FaultClass::kUnexplained,
                 "stopped before its end (timeout or signal) without a "
                 "fail-safe stop");
  }
  if (!run.injected) {
    if (run.divergences.empty()) {
      return Class(FaultClass::kNotInjected,
                   "the run ended before the fault's ESN");
    }
    return Class(
        FaultClass::kUnexplained,
        absl::StrFormat("diverged (%s at ESN %d) with no fault "
                        "injected",
                        run.divergences[0].trigger, run.divergences[0].esn));
  }
  if (run.divergences.empty()) {
    return Class(FaultClass::kMasked, "no divergence; golden output");
  }
  for (const FaultRunDivergence& d : run.divergences) {
    if (!d.recovered) {
      return Class(FaultClass::kUnexplained,
                   absl::StrFormat("divergence (%s at ESN %d) neither "
                                   "recovered nor stopped fail-safe",
                                   d.trigger, d.esn));
    }
  }
  return Class(FaultClass::kRecovered,
               absl::StrFormat("%d divergence%s recovered; golden output",
                               run.divergences.size(),
                               run.divergences.size() == 1 ? "" : "s"));
}

void FaultCampaignTally::Add(const FaultRunOutcome& run,
                             const Classification& c) {
  ++runs_;
  ++counts_[static_cast<size_t>(c.fault_class)];
  if (run.injected && run.injected_at_ms && !run.divergences.empty()) {
    detection_ms_.push_back(run.divergences.front().detected_at_ms -
                            *run.injected_at_ms);
  }
  for (const FaultRunDivergence& d : run.divergences) {
    if (d.recovered && d.recovery_ms) recovery_ms_.push_back(*d.recovery_ms);
  }
}

double FaultCampaignTally::percent(FaultClass c) const {
  const uint64_t n = injected_runs();
  if (n == 0 || c == FaultClass::kNotInjected) return 0;
  return 100.0 * static_cast<double>(count(c)) / static_cast<double>(n);
}

}  // namespace xv
