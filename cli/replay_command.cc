// xvirt replay: re-run a recorded log with no back-ends and verify it.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "cli/run_report.h"
#include "cli/run_settings.h"
#include "cli/stop_signals.h"
#include "debug/position.h"
#include "debug/replay_session.h"
#include "devices/serial_backend.h"
#include "replay/machine_recorder.h"
#include "replay/machine_replayer.h"
#include "replay/what_if_run.h"
#include "replica/fault_spec.h"
#include "session/backend_choice.h"

namespace xv::cli {
namespace {

// Exit status of a replay that diverged from its recording.
constexpr int kExitDiverged = 121;
// The log ends early (a recorder killed mid-run): what it holds replayed
// and verified, but the run's end could not be checked.
constexpr int kExitIncomplete = 122;

// Shows the guest's serial output as it is replayed; everything else the
// guest emits (disk writes) is only checked.
class SerialEcho : public OutputSink {
 public:
  explicit SerialEcho(std::unique_ptr<SerialBackend> out)
      : out_(std::move(out)) {}
  void Emit(const DeviceOutput& output) override {
    if (output.kind == OutputKind::kSerialTx && error_.ok()) {
      error_ = out_->Write(output.data);
    }
  }
  const absl::Status& error() const { return error_; }

 private:
  std::unique_ptr<SerialBackend> out_;
  absl::Status error_;
};

nlohmann::ordered_json DivergenceJson(const Divergence& d) {
  nlohmann::ordered_json j;
  j["esn"] = d.esn;
  j["what"] = d.what;
  j["expected"] = d.expected;
  j["actual"] = d.actual;
  j["rip"] = d.rip ? nlohmann::ordered_json(absl::StrFormat("0x%x", *d.rip))
                   : nlohmann::ordered_json(nullptr);
  j["last_exit"] = d.last_exit;
  j["guest_position"] = d.guest_position;
  j["last_verified_esn"] = d.last_verified_esn;
  return j;
}

void PrintDivergence(const Divergence& d) {
  std::fprintf(stderr,
               "xvirt: replay diverged at ESN %llu: %s\n"
               "  expected: %s\n"
               "  actual:   %s\n"
               "  guest:    %s\n"
               "  last exit: %s\n"
               "  last verified ESN: %llu\n",
               (unsigned long long)d.esn, d.what.c_str(), d.expected.c_str(),
               d.actual.c_str(), d.guest_position.c_str(), d.last_exit.c_str(),
               (unsigned long long)d.last_verified_esn);
}

// "stored: 500, 1000, 1500" or why there are none.
std::string AvailableCheckpoints(const std::string& log_path) {
  std::vector<uint64_t> esns;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(CheckpointDirPath(log_path), ec)) {
    uint64_t esn = 0;
    if (entry.path().extension() == ".xvcp" &&
        absl::SimpleAtoi(entry.path().stem().string(), &esn)) {
      esns.push_back(esn);
    }
  }
  if (esns.empty()) {
    return "the recording stored no checkpoints (record with "
           "--checkpoint-every N)";
  }
  std::sort(esns.begin(), esns.end());
  return "stored: " + absl::StrJoin(esns, ", ");
}

// replay LOG --inject SPEC --record OUT: the recording's inputs with a
// fault injected, recorded to OUT (not verified against LOG: another run).
int ReplayWithFault(const ParsedArgs& args, const std::string& path,
                    const std::string& backend, bool json,
                    OutputSink* outputs) {
  const std::optional<std::string> spec_text = args.Get("inject");
  const std::optional<std::string> out = args.Get("record");
  if (!spec_text || !out) {
    return Fail(kExitUsage, "replay: --inject and --record go together", json);
  }
  if (args.Has("until") || args.Has("from-checkpoint")) {
    return Fail(kExitUsage,
                "replay: --inject runs the whole recording from the boot "
                "(no --until or --from-checkpoint)",
                json);
  }
  auto spec = ParseFaultSpec(*spec_text, {});
  if (!spec.ok()) return Fail(kExitUsage, spec.status(), json);
  if (spec->kind != FaultKind::kRegisterBit) {
    return Fail(kExitUsage,
                absl::StrFormat("replay --inject '%s': only a register bit "
                                "(reg:REG:BIT@ESN) can be injected here",
                                *spec_text),
                json);
  }
  const LoggedFault fault{.esn = spec->esn, .reg = spec->reg, .bit = spec->bit};
  auto hypervisor = OpenBackend(backend);
  if (!hypervisor.ok()) return Fail(kExitCannotRun, hypervisor.status(), json);
  RunController controller;
  StopSignals signals(&controller);
  auto outcome =
      RecordWithFault(**hypervisor, path, fault, *out,
                      {.outputs = outputs, .controller = &controller});
  if (!outcome.ok()) return Fail(kExitCannotRun, outcome.status(), json);
  if (!outcome->fault_applied) {
    std::error_code ignored;
    std::filesystem::remove(*out, ignored);
    return Fail(kExitUsage,
                absl::StrFormat("replay --inject: the run ended at ESN %d, "
                                "before exit %d: nothing was injected and "
                                "nothing recorded",
                                outcome->result.esn, fault.esn),
                json);
  }
  const RecorderStats& r = outcome->recorded;
  std::fprintf(stderr,
               "xvirt: injected %s; recorded %s: %llu exits, %llu inputs, "
               "%llu outputs, stopped: %s\n",
               DescribeFault(fault).c_str(), out->c_str(),
               (unsigned long long)outcome->result.esn,
               (unsigned long long)r.inputs, (unsigned long long)r.outputs,
               std::string(StopReasonName(outcome->result.reason)).c_str());
  if (json) {
    nlohmann::ordered_json j;
    j["source"] = path;
    j["recorded"] = *out;
    j["injected"] = DescribeFault(fault);
    j["esn"] = outcome->result.esn;
    j["stop_reason"] = std::string(StopReasonName(outcome->result.reason));
    j["exit_code"] = outcome->result.exit_status;
    j["inputs"] = r.inputs;
    j["outputs"] = r.outputs;
    j["checkpoints"] = r.checkpoints;
    std::cout << j.dump() << "\n";
  }
  return outcome->result.exit_status;
}

}  // namespace

const CommandSpec& ReplayCommandSpec() {
  static const CommandSpec spec = {
      .name = "replay",
      .usage =
          "replay LOG [--from-checkpoint ESN] [--until ESN] "
          "[--inject SPEC --record OUT] [--backend " +
          std::string(kBackendChoices) + "] [--json]",
      .summary = "replay a recorded log and verify it reproduces the run",
      .description =
          "Rebuilds the machine from LOG's header and runs the guest with\n"
          "no back-ends at all: inputs come only from the log, applied at\n"
          "the exit (ESN) where they were recorded. Outputs, periodic state\n"
          "hashes and the final state are checked against the log; the\n"
          "first difference stops the replay with a report of where it\n"
          "diverged. The guest's serial output is shown as it replays.\n"
          "Exit status: the recorded guest's, 121 if the replay diverged,\n"
          "122 if the log ends early (its recorder was killed: what it\n"
          "holds is replayed and verified), 125 if the log cannot be read\n"
          "or the backend is unavailable. Any backend replays a log, whatever\n"
          "backend recorded it; it runs on --backend auto (KVM where usable,\n"
          "else the emulator) unless told otherwise.\n"
          "With --inject SPEC --record OUT it answers 'what if this bit had\n"
          "flipped?': the recording's inputs run at their ESNs with the\n"
          "fault injected, unverified (it is another run), and that run is\n"
          "recorded to OUT, fault included, so OUT replays exactly and\n"
          "'xvirt diff LOG OUT' finds the fault by state.",
      .options =
          {
              {"until", "ESN[+N]",
               "stop at the rendezvous after exit ESN instead of the end; "
               "with +N, then N instructions later (counted on the "
               "emulator), and show the state there"},
              {"from-checkpoint", "ESN",
               "start from the checkpoint the recording stored at ESN "
               "(LOG.checkpoints/ESN.xvcp; 'record --checkpoint-every' "
               "stores them) instead of booting: only the rest of the log "
               "runs, and it verifies the same"},
              {"inject", "SPEC",
               "flip a register bit: reg:REG:BIT@ESN (after exit ESN's "
               "inputs; needs --record)"},
              {"record", "OUT", "with --inject: record the faulty run to OUT"},
              {"quiet", "", "do not show the guest's serial output"},
              {"json", "",
               "print one JSON object with the results on stdout (the "
               "guest's output then goes to stderr)"},
              BackendOptionSpec(),
          },
      .min_positional = 1,
      .max_positional = 1,
  };
  return spec;
}

int ReplayCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(ReplayCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  const std::string path = args->positional()[0];
  const auto backend = ParseBackendOption(*args);
  if (!backend.ok()) return Fail(kExitUsage, backend.status(), json);
  ReplayOptions options;
  // --until ESN+N: verified to exit ESN's rendezvous, then N instructions
  // on, which only the emulator can count.
  std::optional<Position> until_position;
  if (std::optional<std::string> text = args->Get("until")) {
    auto position = ParsePosition(*text);
    if (!position.ok()) return Fail(kExitUsage, position.status(), json);
    options.until = position->esn;
    if (position->steps > 0) until_position = *position;
  }
  auto from = args->GetNumber("from-checkpoint", 0, 1.8e19);
  if (!from.ok()) return Fail(kExitUsage, from.status(), json);
  std::optional<uint64_t> from_esn;
  if (*from) {
    from_esn = static_cast<uint64_t>(**from);
    options.from_checkpoint =
        CheckpointFilePath(path, static_cast<uint64_t>(**from));
    if (!std::filesystem::exists(options.from_checkpoint)) {
      return Fail(
          kExitUsage,
          absl::StrFormat("replay: no checkpoint at ESN %d (%s); %s",
                          static_cast<uint64_t>(**from),
                          options.from_checkpoint, AvailableCheckpoints(path)),
          json);
    }
  }

  std::unique_ptr<SerialEcho> echo;
  if (!args->Has("quiet")) {
    auto out = OpenSerialBackend({.output = json ? "stderr" : "stdout"});
    if (!out.ok()) return Fail(kExitCannotRun, out.status(), json);
    echo = std::make_unique<SerialEcho>(std::move(*out));
    options.outputs = echo.get();
  }
  if (args->Has("inject") || args->Has("record")) {
    return ReplayWithFault(*args, path, *backend, json, echo.get());
  }
  // A progress line only where it cannot garble the guest's output.
  const bool progress = !json && isatty(STDERR_FILENO) &&
                        (args->Has("quiet") || !isatty(STDOUT_FILENO));
  if (progress) {
    options.progress = [](uint64_t esn, double fraction) {
      std::fprintf(stderr, "\rreplaying: ESN %llu, %3.0f%% of the log",
                   (unsigned long long)esn, 100 * fraction);
    };
  }

  auto hypervisor = OpenBackend(*backend);
  if (!hypervisor.ok()) return Fail(kExitCannotRun, hypervisor.status(), json);
  RunController controller;
  options.controller = &controller;
  StopSignals signals(&controller);
  auto outcome = ReplayLog(**hypervisor, path, options);
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (!outcome.ok()) {
    return Fail(kExitCannotRun, outcome.status(), json);
  }
  if (echo && !echo->error().ok()) {
    return Fail(kExitCannotRun, echo->error(), json);
  }
  for (const std::string& w : outcome->warnings) {
    std::fprintf(stderr, "xvirt: warning: %s\n", w.c_str());
  }
  for (const std::string& n : outcome->notes) {
    std::fprintf(stderr, "xvirt: note: %s\n", n.c_str());
  }
  const ReplayCounts& c = outcome->counts;
  int exit_status = outcome->recorded_end && outcome->complete
                        ? outcome->recorded_end->exit_status
                        : outcome->result.exit_status;
  if (outcome->divergence) {
    PrintDivergence(*outcome->divergence);
    exit_status = kExitDiverged;
  } else if (!outcome->recorded_end && !options.until) {
    exit_status = kExitIncomplete;
  }
  if (!outcome->divergence) {
    std::fprintf(
        stderr,
        "verified%s: %llu inputs, %llu outputs, %llu checkpoints, "
        "final state hash %s\n",
        from_esn ? absl::StrFormat(" from the checkpoint at ESN %d", *from_esn)
                       .c_str()
                 : "",
        (unsigned long long)c.inputs, (unsigned long long)c.outputs,
        (unsigned long long)c.checkpoints,
        outcome->final_state_hash ? outcome->final_state_hash->ToHex().c_str()
                                  : "(not compared)");
  }
  // The steps past the verified rendezvous: a session on the emulator.
  nlohmann::ordered_json at_position;
  if (until_position && !outcome->divergence &&
      outcome->result.reason == StopReason::kStopPoint) {
    auto emu = OpenBackend("emu");
    if (!emu.ok()) return Fail(kExitCannotRun, emu.status(), json);
    auto session = ReplaySession::Open(**emu, path);
    if (!session.ok()) return Fail(kExitCannotRun, session.status(), json);
    auto stop = (*session)->SeekPosition(*until_position);
    if (!stop.ok()) return Fail(kExitUsage, stop.status(), json);
    auto hash = (*session)->machine().StateHash();
    if (!hash.ok()) return Fail(kExitCannotRun, hash.status(), json);
    const uint64_t rip = (*session)->machine().cpu().regs().rip;
    at_position = {{"position", FormatPosition(*until_position)},
                   {"instructions_since_boot", (*session)->time()},
                   {"rip", absl::StrFormat("0x%x", rip)},
                   {"state_hash", hash->ToHex()}};
    std::fprintf(stderr,
                 "at %s (%llu instructions since boot, on the emulator): RIP "
                 "0x%llx, state hash %s\n",
                 FormatPosition(*until_position).c_str(),
                 (unsigned long long)(*session)->time(),
                 (unsigned long long)rip, hash->ToHex().c_str());
  }
  if (json) {
    RunResult result = outcome->result;
    result.exit_status = exit_status;
    nlohmann::ordered_json j =
        RunReportJson(outcome->machine.kernel_name, outcome->backend, result,
                      outcome->stats, outcome->final_state_hash);
    j["recorded_backend"] = outcome->machine.backend;
    j["from_checkpoint"] = from_esn ? nlohmann::ordered_json(*from_esn)
                                    : nlohmann::ordered_json(nullptr);
    j["verified"] = !outcome->divergence.has_value();
    j["complete"] = outcome->complete;
    j["inputs"] = c.inputs;
    j["outputs"] = c.outputs;
    j["checkpoints"] = c.checkpoints;
    j["last_verified_esn"] = c.last_verified_esn;
    j["divergence"] = outcome->divergence ? DivergenceJson(*outcome->divergence)
                                          : nlohmann::ordered_json(nullptr);
    j["notes"] = outcome->notes;
    j["at_position"] =
        at_position.is_null() ? nlohmann::ordered_json(nullptr) : at_position;
    std::cout << j.dump() << "\n";
  }
  return exit_status;
}

}  // namespace xv::cli
