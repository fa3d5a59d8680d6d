// xvirt run: boot a kernel and run it to the end with live back-ends.
#include <cstdio>
#include <iostream>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "session/live_run.h"
#include "cli/run_report.h"
#include "cli/run_settings.h"
#include "cli/stop_signals.h"

namespace xv::cli {

const CommandSpec& RunCommandSpec() {
  static const CommandSpec spec = {
      .name = "run",
      .usage = "run KERNEL [options]",
      .summary =
          "boot a multiboot kernel (a file or a bundled guest) and run "
          "it",
      .description =
          "Boots KERNEL, a multiboot v1 ELF file or the name of a bundled\n"
          "guest (see 'xvirt guests'), on one vCPU with the PC devices\n"
          "xvirt models, and runs it until it writes to the debug-exit port\n"
          "0xf4. xvirt then exits with the value written. Other endings:\n"
          "124 timeout, 126 the guest crashed (triple fault, an instruction\n"
          "the backend cannot run) or halted forever, 125 xvirt could not\n"
          "run it, 130 interrupted. A guest access to guest-physical\n"
          "memory outside RAM reads all ones and writes nothing on the kvm\n"
          "backend (an unassigned address); the emu backend stops the run\n"
          "there with 126.",
      .options = RunOptionSpecs(),
      .min_positional = 1,
      .max_positional = 1,
  };
  return spec;
}

int RunCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(RunCommandSpec(), inv, &status);
  if (!args) return status;
  const bool json = args->Has("json");
  auto fail = [json](int status, std::string_view message) {
    return Fail(status, message, json);
  };
  GuestCatalog catalog(inv.argv0);
  auto settings = ParseRunSettings(*args, catalog);
  if (!settings.ok()) {
    return fail(RunSettingsErrorExitStatus(settings.status()),
                std::string(settings.status().message()));
  }

  RunController controller;
  StopSignals signals(&controller);
  auto outcome = RunGuestLive(*settings, &controller, /*want_state_hash=*/json);
  if (!outcome.ok()) {
    return fail(kExitCannotRun, std::string(outcome.status().message()));
  }

  const RunResult& r = outcome->result;
  if (r.reason != StopReason::kDebugExit) {
    std::fprintf(stderr, "xvirt: %s\n", r.message.c_str());
  }
  if (json) {
    std::cout << RunReportJson(settings->kernel_path, *outcome).dump() << "\n";
  }
  return r.exit_status;
}

}  // namespace xv::cli
