// xvirt replicate: run a kernel as two replicas whose every output is
// compared before it leaves (replica/replicated_run.h).
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/replica_settings.h"
#include "cli/run_report.h"
#include "cli/run_settings.h"
#include "cli/stop_signals.h"
#include "replica/fault_spec.h"
#include "session/backend_choice.h"
#include "session/live_run.h"

namespace xv::cli {
namespace {

// The replicas diverged and no majority was found: stopped fail-safe.
constexpr int kExitDiverged = 123;

}  // namespace

const CommandSpec& ReplicateCommandSpec() {
  static const CommandSpec spec = [] {
    CommandSpec s{
        .name = "replicate",
        .usage =
            "replicate KERNEL [run options] [--checkpoint-every N] "
            "[--checkpoint-ms T] [--hang-timeout S] [--inject SPEC] "
            "[--record LOG] [--json]",
        .summary = "run a kernel as two replicas that check each other",
        .description =
            "Runs KERNEL as 'run' does, but as two replicas on two threads:\n"
            "a leader that takes the live inputs and a follower that gets\n"
            "them at the same exits. An output (serial bytes, disk writes,\n"
            "debug-exit) reaches its back-end only once both produced it.\n"
            "At checkpoints the leader chooses, both stop, and their\n"
            "registers, devices and every page either wrote are compared,\n"
            "then merged into shared memory.\n"
            "\n"
            "On a divergence (different outputs, a checkpoint mismatch, a\n"
            "replica that crashes or hangs) a third replica is rebuilt from\n"
            "the last verified checkpoint and replays the log to the\n"
            "divergence; the one of the two it disagrees with is voted out\n"
            "and replaced by it, and the run goes on. Each event is reported\n"
            "on stderr. Without a majority the run stops fail-safe, releasing\n"
            "nothing unverified.\n"
            "\n"
            "Exit status as for 'run'; 123 if the run stopped fail-safe.",
        .options = RunOptionSpecs(),
        .min_positional = 1,
        .max_positional = 1,
    };
    for (OptionSpec& o : ReplicaOptionSpecs()) s.options.push_back(o);
    s.options.push_back(
        {"record", "LOG",
         "write the verified nondeterminism log to LOG ('xvirt replay LOG' "
         "replays it); a run that stops fail-safe is logged up to its last "
         "verified checkpoint"});
    s.options.push_back(
        {"follower-backend", "B",
         "run the follower on backend B (auto, kvm or emu; default: the "
         "leader's --backend): two CPU implementations check each other"});
    s.options.push_back(
        {"inject", "SPEC",
         "inject one fault: reg:REG:BIT@ESN, mem:GPA:BIT@ESN, hang@ESN or "
         "crash@ESN, each optionally :leader or :follower; random:SEED"});
    return s;
  }();
  return spec;
}

nlohmann::ordered_json DivergencesJson(const ReplicatedOutcome& outcome) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const DivergenceEvent& d : outcome.divergences) {
    nlohmann::ordered_json j;
    j["esn"] = d.esn;
    j["trigger"] = std::string(DivergenceTriggerName(d.trigger));
    j["voted_out"] =
        d.voted_out
            ? nlohmann::ordered_json(
                  d.voted_out == ReplicaRole::kLeader ? "leader" : "follower")
            : nlohmann::ordered_json(nullptr);
    j["recovery_ms"] = d.recovery_ms ? nlohmann::ordered_json(*d.recovery_ms)
                                     : nlohmann::ordered_json(nullptr);
    j["outcome"] = d.recovered ? "recovered" : "fail_safe";
    j["detected_at_ms"] = d.detected_at_ms;
    j["detail"] = d.detail;
    list.push_back(std::move(j));
  }
  return list;
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
  auto parsed = ParseReplicaOptions(*args);
  if (!parsed.ok()) return Fail(kExitUsage, parsed.status(), json);
  ReplicaOptions options = *std::move(parsed);
  if (std::optional<std::string> spec = args->Get("inject")) {
    // random:SEED draws from the first 100k exits of the configured memory.
    auto fault = ParseFaultSpec(
        *spec, {.max_esn = 100'000, .memory_bytes = settings->memory_bytes});
    if (!fault.ok()) return Fail(kExitUsage, fault.status(), json);
    options.inject = *fault;
  }

  if (std::optional<std::string> log = args->Get("record")) {
    if (log->empty())
      return Fail(kExitUsage, "replicate: --record needs a path", json);
    options.record = ReplicaRecording{.path = *log};
    options.record->options.checkpoint_interval = options.checkpoint_every;
  }

  options.on_event = [](const ReplicaEvent& event) {
    std::fprintf(stderr, "xvirt: %s\n", event.line.c_str());
  };
  RunController controller;
  StopSignals signals(&controller);
  const std::string follower_backend =
      args->Get("follower-backend").value_or("");
  if (args->Has("follower-backend")) {
    if (!ValidateBackendChoice(follower_backend).ok()) {
      return Fail(kExitUsage,
                  absl::StrFormat("--follower-backend: '%s' is not one of %s",
                                  follower_backend, kBackendChoices),
                  json);
    }
  }
  auto outcome =
      RunGuestReplicated(*settings, &controller, options, follower_backend);
  if (!outcome.ok()) return Fail(kExitCannotRun, outcome.status(), json);
  const RunResult& r = outcome->result;
  if (outcome->injected) {
    std::fprintf(stderr, "xvirt: injected: %s\n", outcome->injected->c_str());
  }
  if (outcome->fail_safe) {
    std::fprintf(stderr,
                 "xvirt: stopped fail-safe after releasing %llu verified "
                 "outputs: %s\n",
                 (unsigned long long)outcome->outputs_released,
                 outcome->fail_safe->c_str());
  } else if (r.reason != StopReason::kDebugExit) {
    std::fprintf(stderr, "xvirt: %s\n", r.message.c_str());
  }
  const int exit_status = outcome->fail_safe ? kExitDiverged : r.exit_status;
  if (json) {
    RunResult reported = r;
    reported.exit_status = exit_status;
    nlohmann::ordered_json j =
        RunReportJson(settings->kernel_path, outcome->backend, reported,
                      outcome->stats, outcome->final_state_hash);
    j["checkpoints_verified"] = outcome->checkpoints_verified;
    j["outputs_released"] = outcome->outputs_released;
    j["output_latency_us"] = {
        {"median", outcome->output_latency.median_ns / 1000.0},
        {"p99", outcome->output_latency.p99_ns / 1000.0}};
    j["follower_backend"] = outcome->follower_backend;
    j["divergences"] = DivergencesJson(*outcome);
    j["fail_safe"] = outcome->fail_safe
                         ? nlohmann::ordered_json(*outcome->fail_safe)
                         : nlohmann::ordered_json(nullptr);
    if (outcome->recorded) {
      j["recorded"] = {{"inputs", outcome->recorded->inputs},
                       {"outputs", outcome->recorded->outputs},
                       {"checkpoints", outcome->recorded->checkpoints}};
    }
    j["injected"] = outcome->injected
                        ? nlohmann::ordered_json(*outcome->injected)
                        : nlohmann::ordered_json(nullptr);
    std::cout << j.dump() << "\n";
  }
  return exit_status;
}

}  // namespace xv::cli
