// xvirt record: run a guest like `xvirt run` and write its nondeterminism log.
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "session/live_run.h"
#include "cli/run_report.h"
#include "cli/run_settings.h"
#include "cli/stop_signals.h"
#include "replay/machine_recorder.h"

namespace xv::cli {

const CommandSpec& RecordCommandSpec() {
  static const CommandSpec spec = [] {
    CommandSpec s{
        .name = "record",
        .usage = "record KERNEL -o LOG [options]",
        .summary = "run a guest like 'run' and record its nondeterminism log",
        .description =
            "Runs KERNEL exactly as 'xvirt run' does (the guest's output\n"
            "still reaches you live) and writes every nondeterministic input\n"
            "it receives, with the exit (ESN) where it was applied, to LOG,\n"
            "together with the kernel image, the machine configuration and\n"
            "periodic state hashes. 'xvirt replay LOG' then reproduces the\n"
            "run exactly, on any host and either backend (KVM or the\n"
            "emulator), without the disk image, the terminal or the clock.\n"
            "Exit status as for 'run'.",
        .options = RunOptionSpecs(),
        .min_positional = 1,
        .max_positional = 1,
    };
    s.options.insert(
        s.options.begin(),
        {"output", "LOG", "the log file to write (required)", 'o'});
    s.options.push_back(
        {"checkpoint-every", "N",
         "checkpoint every N exits: log a state hash, which replay verifies, "
         "and store the full checkpoint in LOG.checkpoints/ESN.xvcp, from "
         "which 'replay --from-checkpoint ESN' starts (0: only at the end). "
         "Without this option: a state hash every 20000 exits, no files"});
    s.options.push_back(
        {"no-compress", "", "store log segments without zstd compression"});
    return s;
  }();
  return spec;
}

int RecordCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(RecordCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  std::optional<std::string> log_path = args->Get("output");
  if (!log_path || log_path->empty()) {
    return Fail(kExitUsage, "record: -o LOG is required", json);
  }
  RecordRequest record{.log_path = *log_path};
  auto every = args->GetNumber("checkpoint-every", 0, 1e12);
  if (!every.ok()) return Fail(kExitUsage, every.status(), json);
  if (*every) {
    record.options.checkpoint_interval = static_cast<uint64_t>(**every);
    record.checkpoint_files = true;
  }
  record.options.writer.compress = !args->Has("no-compress");

  GuestCatalog catalog(inv.argv0);
  auto settings = ParseRunSettings(*args, catalog);
  if (!settings.ok()) {
    return Fail(RunSettingsErrorExitStatus(settings.status()),
                settings.status(), json);
  }

  RunController controller;
  StopSignals signals(&controller);
  auto outcome = RunGuestLive(*settings, &controller,
                              /*want_state_hash=*/json, &record);
  if (!outcome.ok()) {
    return Fail(kExitCannotRun, outcome.status(), json);
  }
  const RunResult& r = outcome->result;
  if (r.reason != StopReason::kDebugExit) {
    std::fprintf(stderr, "xvirt: %s\n", r.message.c_str());
  }
  const RecorderStats& rec = *outcome->recorded;
  const LogWriterStats& log = *outcome->log_stats;
  if (json) {
    nlohmann::ordered_json j = RunReportJson(settings->kernel_path, *outcome);
    j["log"] = {{"path", *log_path},
                {"bytes", log.file_bytes},
                {"records", log.records},
                {"inputs", rec.inputs},
                {"outputs", rec.outputs},
                {"checkpoints", rec.checkpoints},
                {"checkpoint_files", outcome->checkpoint_files},
                {"output_digests", rec.digests}};
    std::cout << j.dump() << "\n";
  } else {
    if (outcome->checkpoint_files > 0) {
      std::fprintf(stderr, "xvirt: stored %llu checkpoints in %s\n",
                   (unsigned long long)outcome->checkpoint_files,
                   CheckpointDirPath(*log_path).c_str());
    }
    std::fprintf(stderr,
                 "xvirt: recorded %s: %llu exits, %llu inputs, %llu outputs, "
                 "%llu checkpoints, %llu bytes\n",
                 log_path->c_str(), (unsigned long long)r.esn,
                 (unsigned long long)rec.inputs,
                 (unsigned long long)rec.outputs,
                 (unsigned long long)rec.checkpoints,
                 (unsigned long long)log.file_bytes);
  }
  return r.exit_status;
}

}  // namespace xv::cli
