// xvirt replicate: run a kernel as two replicas whose every output is
// compared before it leaves (replica/replicated_run.h).
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/live_run.h"
#include "cli/run_report.h"
#include "cli/run_settings.h"
#include "cli/stop_signals.h"
#include "replica/fault_spec.h"

namespace xv::cli {
namespace {

// The replicas diverged: the run stopped fail-safe.
constexpr int kExitDiverged = 123;

}  // namespace

const CommandSpec& ReplicateCommandSpec() {
  static const CommandSpec spec = [] {
    CommandSpec s{
        .name = "replicate",
        .usage =
            "replicate KERNEL [run options] [--checkpoint-every N] "
            "[--inject SPEC] [--json]",
        .summary = "run a kernel as two replicas that check each other",
        .description =
            "Runs KERNEL as 'run' does, but as two replicas on two threads:\n"
            "a leader that takes the live inputs and a follower that gets\n"
            "them at the same exits. An output (serial bytes, disk writes,\n"
            "debug-exit) reaches its back-end only once both produced it.\n"
            "Every N exits both stop, and their registers, devices and\n"
            "every page either wrote are compared, then merged into shared\n"
            "memory. On any difference the run stops at once, releasing\n"
            "nothing unverified (recovery by a third replica is not built\n"
            "yet). Exit status as for 'run'; 123 if the replicas diverged.",
        .options = RunOptionSpecs(),
        .min_positional = 1,
        .max_positional = 1,
    };
    s.options.push_back({"checkpoint-every", "N",
                         "verify and merge the replicas every N exits "
                         "(default 20000; 0: only at the end)"});
    s.options.push_back(
        {"inject", "SPEC",
         "inject one fault: reg:REG:BIT@ESN, mem:GPA:BIT@ESN, hang@ESN or "
         "crash@ESN, each optionally :leader or :follower; random:SEED"});
    return s;
  }();
  return spec;
}

int ReplicateCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(ReplicateCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  GuestCatalog catalog(inv.argv0);
  auto settings = ParseRunSettings(*args, catalog);
  if (!settings.ok()) {
    return Fail(RunSettingsErrorExitStatus(settings.status()),
                settings.status(), json);
  }
  ReplicaOptions options;
  auto every = args->GetNumber("checkpoint-every", 0, 1e12);
  if (!every.ok()) return Fail(kExitUsage, every.status(), json);
  if (*every) options.checkpoint_every = static_cast<uint64_t>(**every);
  if (std::optional<std::string> spec = args->Get("inject")) {
    // random:SEED draws from the first 100k exits of the configured memory.
    auto fault = ParseFaultSpec(
        *spec, {.max_esn = 100'000, .memory_bytes = settings->memory_bytes});
    if (!fault.ok()) return Fail(kExitUsage, fault.status(), json);
    if (fault->kind == FaultKind::kHang) {
      // Without hang detection the other replica would wait forever.
      return Fail(kExitUsage,
                  "replicate: hang faults need hang detection, which is not "
                  "built yet",
                  json);
    }
    options.inject = *fault;
  }

  RunController controller;
  StopSignals signals(&controller);
  auto outcome = RunGuestReplicated(*settings, &controller, options);
  if (!outcome.ok()) return Fail(kExitCannotRun, outcome.status(), json);
  const RunResult& r = outcome->result;
  if (outcome->injected) {
    std::fprintf(stderr, "xvirt: injected: %s\n", outcome->injected->c_str());
  }
  if (outcome->divergence) {
    std::fprintf(stderr,
                 "xvirt: the replicas diverged; stopped fail-safe after "
                 "releasing %llu verified outputs: %s\n",
                 (unsigned long long)outcome->outputs_released,
                 outcome->divergence->c_str());
  } else if (r.reason != StopReason::kDebugExit) {
    std::fprintf(stderr, "xvirt: %s\n", r.message.c_str());
  }
  const int exit_status = outcome->divergence ? kExitDiverged : r.exit_status;
  if (json) {
    RunResult reported = r;
    reported.exit_status = exit_status;
    nlohmann::ordered_json j =
        RunReportJson(settings->kernel_path, reported, outcome->stats,
                      outcome->final_state_hash);
    j["checkpoints_verified"] = outcome->checkpoints_verified;
    j["outputs_released"] = outcome->outputs_released;
    j["output_latency_us"] = {
        {"median", outcome->output_latency.median_ns / 1000.0},
        {"p99", outcome->output_latency.p99_ns / 1000.0}};
    nlohmann::ordered_json divergences = nlohmann::ordered_json::array();
    if (outcome->divergence) {
      divergences.push_back({{"esn", r.esn},
                             {"trigger", *outcome->divergence},
                             {"voted_out", nullptr},
                             {"recovery_ms", nullptr},
                             {"outcome", "fail_safe"}});
    }
    j["divergences"] = divergences;
    j["injected"] = outcome->injected
                        ? nlohmann::ordered_json(*outcome->injected)
                        : nlohmann::ordered_json(nullptr);
    std::cout << j.dump() << "\n";
  }
  return exit_status;
}

}  // namespace xv::cli
