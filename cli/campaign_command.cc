// xvirt campaign: many replicated runs of one guest, each with one random
// single-bit fault, each judged against a fault-free run of the same guest
// (replica/fault_campaign.h).
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "cli/commands.h"
#include "cli/replica_settings.h"
#include "cli/run_settings.h"
#include "cli/stop_signals.h"
#include "nlohmann/json.hpp"
#include "replica/fault_campaign.h"
#include "replica/fault_spec.h"
#include "replica/replicated_run.h"
#include "session/live_run.h"

namespace xv::cli {
namespace {

using Json = nlohmann::ordered_json;

// Some injected run released output that differs from the golden run's.
constexpr int kExitSilentCorruption = 1;
// Without --timeout, an injected run may take this many times the golden
// run's wall time (at least kMinRunTimeoutSeconds) before it is stopped.
constexpr double kRunTimeoutFactor = 10;
constexpr double kMinRunTimeoutSeconds = 10;

double Now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A private directory for the campaign's files (the guest's input, read
// once, and each run's released serial output), removed with everything
// in it when the campaign ends.
class ScratchDir {
 public:
  static absl::StatusOr<ScratchDir> Create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp && *tmp ? tmp : "/tmp") + "/xvirt-campaign.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      return absl::InternalError(absl::StrFormat(
          "cannot create a scratch directory %s", pattern.c_str()));
    }
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

absl::StatusOr<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(path + ": read error");
  return bytes;
}

absl::Status WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return absl::DataLossError(path + ": write error");
  return absl::OkStatus();
}

// Every run must see the same serial input: read it once (standard input
// unless --stdin names a file or FIFO) and give each run a copy from a file.
absl::Status FixInput(RunSettings& settings, const ScratchDir& scratch) {
  std::string& input = settings.serial.input;
  std::string bytes;
  if (input.empty()) return absl::OkStatus();
  if (input == "stdin") {
    if (isatty(STDIN_FILENO)) {  // nothing to replay
      input.clear();
      return absl::OkStatus();
    }
    bytes.assign(std::istreambuf_iterator<char>(std::cin.rdbuf()),
                 std::istreambuf_iterator<char>());
    if (std::cin.bad()) return absl::DataLossError("stdin: read error");
  } else if (input.starts_with("file:")) {
    auto read = ReadAll(input.substr(5));
    if (!read.ok()) return read.status();
    bytes = std::move(*read);
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("--stdin: %s cannot be read again for every run; "
                        "give a file",
                        input));
  }
  const std::string path = scratch.path() + "/input";
  if (absl::Status s = WriteAll(path, bytes); !s.ok()) return s;
  input = "file:" + path;
  return absl::OkStatus();
}

// One replicated run whose released serial output goes to `output_path`,
// with the replica manager's events (divergences, votes, recoveries).
struct CapturedRun {
  absl::StatusOr<ReplicatedOutcome> outcome;
  std::string output;
  std::vector<std::string> events;
};

// `verbose_prefix`: also print each event on stderr as it happens.
CapturedRun RunCaptured(RunSettings settings, const std::string& output_path,
                        RunController* controller, ReplicaOptions options,
                        const std::optional<std::string>& verbose_prefix) {
  settings.serial.output = "file:" + output_path;
  auto events = std::make_shared<std::vector<std::string>>();
  auto mu = std::make_shared<std::mutex>();
  options.on_event = [events, mu, verbose_prefix](const ReplicaEvent& event) {
    const std::string& line = event.line;
    std::lock_guard<std::mutex> lock(*mu);
    events->push_back(line);
    if (verbose_prefix) {
      std::fprintf(stderr, "%s%s\n", verbose_prefix->c_str(), line.c_str());
    }
  };
  CapturedRun run{RunGuestReplicated(settings, controller, options), "", {}};
  {
    std::lock_guard<std::mutex> lock(*mu);
    run.events = *events;
  }
  auto output = ReadAll(output_path);
  if (output.ok()) run.output = std::move(*output);
  std::error_code ignored;
  std::filesystem::remove(output_path, ignored);
  return run;
}

FaultRunOutcome ToFaultRunOutcome(const CapturedRun& run) {
  FaultRunOutcome f;
  f.output = run.output;
  if (!run.outcome.ok()) {
    f.completed = false;
    f.host_error = std::string(run.outcome.status().message());
    return f;
  }
  const ReplicatedOutcome& o = *run.outcome;
  f.exit_status = o.result.exit_status;
  f.fail_safe = o.fail_safe.has_value();
  const StopReason reason = o.result.reason;
  f.completed = !f.fail_safe && reason != StopReason::kTimeout &&
                reason != StopReason::kInterrupted &&
                reason != StopReason::kStopPoint;
  for (const DivergenceEvent& d : o.divergences) {
    f.divergences.push_back(
        {.esn = d.esn,
         .trigger = std::string(DivergenceTriggerName(d.trigger)),
         .recovered = d.recovered,
         .recovery_ms = d.recovery_ms,
         .detected_at_ms = d.detected_at_ms});
  }
  f.injected = o.injected.has_value();
  f.injected_at_ms = o.injected_at_ms;
  return f;
}

Json OptionalNumber(const std::optional<double>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json PercentilesJson(const Percentiles& p) {
  return {{"median", OptionalNumber(p.median)},
          {"p99", OptionalNumber(p.p99)},
          {"samples", p.samples}};
}

std::string Ms(const std::optional<double>& v) {
  return v ? absl::StrFormat("%.2f", *v) : std::string("-");
}

// Progress on stderr: a counter redrawn in place on a terminal, else one
// line per ~5 % of the runs.
class Progress {
 public:
  explicit Progress(uint64_t total)
      : total_(total),
        tty_(isatty(STDERR_FILENO)),
        every_(std::max<uint64_t>(1, (total + 19) / 20)) {}
  void Update(uint64_t done, const FaultCampaignTally& t) {
    if (!tty_ && done % every_ != 0 && done != total_) return;
    std::fprintf(
        stderr,
        "%scampaign: %llu/%llu runs: %llu masked, %llu recovered, %llu "
        "fail-safe, %llu silent corruptions, %llu not injected%s",
        tty_ ? "\r" : "", static_cast<unsigned long long>(done),
        static_cast<unsigned long long>(total_),
        static_cast<unsigned long long>(t.count(FaultClass::kMasked)),
        static_cast<unsigned long long>(t.count(FaultClass::kRecovered)),
        static_cast<unsigned long long>(t.count(FaultClass::kFailSafe)),
        static_cast<unsigned long long>(t.count(FaultClass::kSilentCorruption)),
        static_cast<unsigned long long>(t.count(FaultClass::kNotInjected)),
        tty_ ? "" : "\n");
    if (tty_ && done == total_) std::fputc('\n', stderr);
  }
  void Interrupted() {
    if (tty_) std::fputc('\n', stderr);
  }

 private:
  uint64_t total_;
  bool tty_;
  uint64_t every_;
};

void PrintTable(const FaultCampaignTally& t, double wall_seconds) {
  std::printf("%-18s %6s %8s\n", "class", "runs", "%");
  for (FaultClass c :
       {FaultClass::kMasked, FaultClass::kRecovered, FaultClass::kFailSafe,
        FaultClass::kSilentCorruption, FaultClass::kUnexplained}) {
    std::printf("%-18s %6llu %7.1f%%\n", std::string(FaultClassName(c)).c_str(),
                static_cast<unsigned long long>(t.count(c)), t.percent(c));
  }
  std::printf(
      "%-18s %6llu %8s\n", "not_injected",
      static_cast<unsigned long long>(t.count(FaultClass::kNotInjected)),
      "(excl.)");
  std::printf("%-18s %6llu\n", "runs",
              static_cast<unsigned long long>(t.runs()));
  const Percentiles d = t.detection_latency_ms();
  const Percentiles r = t.recovery_ms();
  std::printf("detection latency: median %s ms, p99 %s ms (%zu samples)\n",
              Ms(d.median).c_str(), Ms(d.p99).c_str(), d.samples);
  std::printf("recovery:          median %s ms, p99 %s ms (%zu samples)\n",
              Ms(r.median).c_str(), Ms(r.p99).c_str(), r.samples);
  std::printf("wall time:         %.1f s\n", wall_seconds);
}

}  // namespace

const CommandSpec& CampaignCommandSpec() {
  static const CommandSpec spec = [] {
    CommandSpec s{
        .name = "campaign",
        .usage =
            "campaign KERNEL [run options] --faults N --seed S "
            "[--checkpoint-every N] [--checkpoint-ms T] [--hang-timeout S] "
            "[--verbose] [--json]",
        .summary =
            "inject N random faults into replicated runs and classify "
            "each",
        .description =
            "Runs KERNEL once as 'replicate' does without a fault (the\n"
            "golden run; it must end with debug-exit 0 and no divergence),\n"
            "then N times more, run i with the fault 'random:S+i' (one bit\n"
            "of a register or of guest memory, in the leader or the\n"
            "follower, at an ESN up to the golden run's last). The guest's\n"
            "serial output is captured, not printed, and its serial input\n"
            "(--stdin FILE, or standard input read once) is given to every\n"
            "run. Each run is classified against the golden one: masked (no\n"
            "divergence, same output), recovered (divergences, all\n"
            "recovered, same output), fail_safe (stopped, having released a\n"
            "prefix of the golden output), silent_corruption (released\n"
            "output or exit status differs), not_injected (the run ended\n"
            "before the fault's ESN; not in the percentages), unexplained\n"
            "(safe, but none of these: a timeout, a host error, a\n"
            "divergence left unresolved). Without --timeout, a run is\n"
            "stopped after 10x the golden run's time (at least 10 s).\n"
            "Progress goes to stderr; a table (or with --json, one JSON\n"
            "object) to stdout.\n\n"
            "Exit status: 0 if no run was a silent corruption, 1 if any was;\n"
            "2 for bad usage; 125 if the golden run could not run or did\n"
            "not end cleanly; 130 if interrupted.",
        .options = {},
        .min_positional = 1,
        .max_positional = 1,
    };
    for (OptionSpec& o : RunOptionSpecs()) {
      if (o.name == "serial") continue;  // the campaign captures the output
      if (o.name == "stdin") {
        o.help =
            "COM1 input for every run from FILE (read once); default: "
            "standard input, read once, unless it is a terminal";
      }
      s.options.push_back(o);
    }
    s.options.push_back({"faults", "N", "how many faulty runs (required)"});
    s.options.push_back(
        {"seed", "S", "run i injects random:S+i (required; S >= 0)"});
    for (OptionSpec& o : ReplicaOptionSpecs()) s.options.push_back(o);
    s.options.push_back({"verbose", "",
                         "print each run's events (divergences, votes, "
                         "recoveries) on stderr as they happen; by default "
                         "only those of silent corruptions and unexplained "
                         "runs are shown (--json lists them all)"});
    return s;
  }();
  return spec;
}

int CampaignCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(CampaignCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  GuestCatalog catalog(inv.argv0);
  auto settings = ParseRunSettings(*args, catalog);
  if (!settings.ok()) {
    return Fail(RunSettingsErrorExitStatus(settings.status()),
                settings.status(), json);
  }
  auto faults = args->GetNumber("faults", 1, 1e7);
  if (!faults.ok()) return Fail(kExitUsage, faults.status(), json);
  if (!*faults) return Fail(kExitUsage, "campaign: --faults N is needed", json);
  if (**faults != static_cast<double>(static_cast<uint64_t>(**faults))) {
    return Fail(kExitUsage, "--faults: must be a whole number", json);
  }
  const uint64_t n = static_cast<uint64_t>(**faults);
  std::optional<std::string> seed_text = args->Get("seed");
  if (!seed_text) return Fail(kExitUsage, "campaign: --seed S is needed", json);
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(*seed_text, &seed)) {
    return Fail(
        kExitUsage,
        absl::StrFormat("--seed: '%s' is not a whole number >= 0", *seed_text),
        json);
  }
  auto parsed = ParseReplicaOptions(*args);
  if (!parsed.ok()) return Fail(kExitUsage, parsed.status(), json);
  ReplicaOptions options = *std::move(parsed);

  auto scratch = ScratchDir::Create();
  if (!scratch.ok()) return Fail(kExitCannotRun, scratch.status(), json);
  if (absl::Status s = FixInput(*settings, *scratch); !s.ok()) {
    return Fail(absl::IsInvalidArgument(s) ? kExitUsage : kExitCannotRun, s,
                json);
  }
  const std::string output_path = scratch->path() + "/output";
  const bool verbose = args->Has("verbose");

  RunController controller;
  StopSignals signals(&controller);
  const double start = Now();
  CapturedRun golden_run =
      RunCaptured(*settings, output_path, &controller, options,
                  verbose ? std::optional<std::string>("campaign: golden: ")
                          : std::nullopt);
  if (!golden_run.outcome.ok()) {
    return Fail(kExitCannotRun, golden_run.outcome.status(), json);
  }
  const ReplicatedOutcome& g = *golden_run.outcome;
  if (controller.stop_requested()) {
    return Fail(130, "campaign: interrupted during the golden run", json);
  }
  if (g.result.reason != StopReason::kDebugExit || g.result.exit_status != 0 ||
      !g.divergences.empty() || g.fail_safe) {
    return Fail(
        kExitCannotRun,
        absl::StrFormat(
            "campaign: the fault-free run did not end cleanly (%s, exit "
            "status %d, %d divergences%s); nothing to compare faults with",
            StopReasonName(g.result.reason), g.result.exit_status,
            g.divergences.size(), g.fail_safe ? ", stopped fail-safe" : ""),
        json);
  }
  const GoldenRun golden{.output = golden_run.output,
                         .exit_status = g.result.exit_status};
  const FaultSpace space{.max_esn = g.result.esn,
                         .memory_bytes = settings->memory_bytes};
  const double golden_seconds = Now() - start;
  if (!settings->timeout_seconds) {
    settings->timeout_seconds =
        std::max(kMinRunTimeoutSeconds, kRunTimeoutFactor * golden_seconds);
  }
  std::fprintf(stderr,
               "campaign: golden run: ESN %llu, %zu output bytes, %.2f s; "
               "%llu faulty runs from seed %llu\n",
               static_cast<unsigned long long>(g.result.esn),
               golden.output.size(), golden_seconds,
               static_cast<unsigned long long>(n),
               static_cast<unsigned long long>(seed));

  FaultCampaignTally tally;
  Progress progress(n);
  Json per_run = Json::array();
  bool interrupted = false;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t run_seed = seed + i;
    auto fault = ParseFaultSpec(absl::StrFormat("random:%d", run_seed), space);
    if (!fault.ok()) return Fail(kExitCannotRun, fault.status(), json);
    options.inject = *fault;
    CapturedRun run =
        RunCaptured(*settings, output_path, &controller, options,
                    verbose ? std::optional<std::string>(absl::StrFormat(
                                  "campaign: seed %d: ", run_seed))
                            : std::nullopt);
    if (controller.stop_requested()) {
      interrupted = true;  // the run cut short is not counted
      progress.Interrupted();
      break;
    }
    const FaultRunOutcome outcome = ToFaultRunOutcome(run);
    const Classification c = ClassifyFaultRun(golden, outcome);
    tally.Add(outcome, c);
    Json entry = {{"seed", run_seed},
                  {"spec", fault->ToString()},
                  {"class", FaultClassName(c.fault_class)},
                  {"reason", c.reason},
                  {"injected", outcome.injected}};
    if (outcome.divergences.empty()) {
      entry["esn"] = nullptr;
      entry["trigger"] = nullptr;
    } else {
      const FaultRunDivergence& d = outcome.divergences.front();
      entry["esn"] = d.esn;
      entry["trigger"] = d.trigger;
      entry["detection_ms"] =
          outcome.injected_at_ms
              ? Json(d.detected_at_ms - *outcome.injected_at_ms)
              : Json(nullptr);
      entry["recovery_ms"] = OptionalNumber(d.recovery_ms);
    }
    entry["divergences"] = outcome.divergences.size();
    entry["events"] = run.events;
    per_run.push_back(std::move(entry));
    if (c.fault_class == FaultClass::kSilentCorruption ||
        c.fault_class == FaultClass::kUnexplained) {
      std::fprintf(
          stderr, "campaign: seed %llu (%s): %s: %s\n",
          static_cast<unsigned long long>(run_seed), fault->ToString().c_str(),
          std::string(FaultClassName(c.fault_class)).c_str(), c.reason.c_str());
      if (!verbose) {
        for (const std::string& line : run.events) {
          std::fprintf(stderr, "campaign:   %s\n", line.c_str());
        }
      }
    }
    progress.Update(i + 1, tally);
  }
  const double wall = Now() - start;

  if (json) {
    Json j = {
        {"guest", settings->kernel_path},
        {"cmdline", settings->cmdline},
        {"seed", seed},
        {"checkpoint_every", options.checkpoint_every},
        {"checkpoint_ms", OptionalNumber(options.checkpoint_ms)},
        {"golden",
         {{"esn", g.result.esn},
          {"exit_code", g.result.exit_status},
          {"output_bytes", golden.output.size()},
          {"wall_seconds", golden_seconds}}},
        {"runs", tally.runs()},
        {"masked", tally.count(FaultClass::kMasked)},
        {"recovered", tally.count(FaultClass::kRecovered)},
        {"fail_safe", tally.count(FaultClass::kFailSafe)},
        {"silent_corruptions", tally.count(FaultClass::kSilentCorruption)},
        {"not_injected", tally.count(FaultClass::kNotInjected)},
        {"unexplained", tally.count(FaultClass::kUnexplained)},
        {"detection_latency_ms", PercentilesJson(tally.detection_latency_ms())},
        {"recovery_ms", PercentilesJson(tally.recovery_ms())},
        {"interrupted", interrupted},
        {"wall_seconds", wall},
        {"per_run", per_run},
    };
    std::cout << j.dump() << "\n";
  } else {
    PrintTable(tally, wall);
  }
  if (tally.count(FaultClass::kSilentCorruption) > 0) {
    return kExitSilentCorruption;
  }
  return interrupted ? 130 : 0;
}

}  // namespace xv::cli
