// xvirt: the command-line front end of libextravirt.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "cli/run_report.h"

namespace xv::cli {
namespace {

struct Command {
  const CommandSpec& (*spec)();
  int (*run)(const Invocation&);
};

const Command kCommands[] = {
    {RunCommandSpec, RunCommand},
    {RecordCommandSpec, RecordCommand},
    {ReplayCommandSpec, ReplayCommand},
    {InspectCommandSpec, InspectCommand},
    {DiffCommandSpec, DiffCommand},
    {DebugCommandSpec, DebugCommand},
    {ReplicateCommandSpec, ReplicateCommand},
    {CampaignCommandSpec, CampaignCommand},
    {LogCommandSpec, LogCommand},
    {GuestsCommandSpec, GuestsCommand},
    {DemoCommandSpec, DemoCommand},
};

void PrintUsage(FILE* out) {
  std::fprintf(out,
               "usage: xvirt COMMAND [options]\n\n"
               "Deterministic record/replay and fault-tolerant replication of "
               "x86 guests,\non KVM or on the built-in emulator (--backend "
               "auto|kvm|emu).\n\ncommands:\n");
  for (const Command& c : kCommands) {
    std::fprintf(out, "  %-8s %s\n", c.spec().name.c_str(),
                 c.spec().summary.c_str());
  }
  std::fprintf(
      out, "\n'xvirt COMMAND --help' explains a command and its options.\n");
}

}  // namespace

int Fail(int status, std::string_view message) {
  std::fprintf(stderr, "xvirt: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return status;
}

int Fail(int status, std::string_view message, bool json) {
  if (json) std::cout << ErrorReportJson(std::string(message)).dump() << "\n";
  return Fail(status, message);
}

int Fail(int status, const absl::Status& error, bool json) {
  return Fail(status, std::string(error.message()), json);
}

int Fail(int status, const absl::Status& error) {
  return Fail(status,
              std::string_view(error.message().data(), error.message().size()));
}

std::optional<ParsedArgs> ParseCommandArgs(const CommandSpec& spec,
                                           const Invocation& inv, int* status) {
  auto args = ParseArgs(spec, inv.args);
  if (!args.ok()) {
    *status = Fail(kExitUsage, args.status());
    return std::nullopt;
  }
  if (args->Has("help")) {
    std::cout << HelpText(spec);
    *status = 0;
    return std::nullopt;
  }
  return *std::move(args);
}

// The running binary's path, for locating its runfiles even after a chdir.
std::string SelfPath(const char* argv0) {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return argv0;
  return std::string(buf, n);
}

int Main(int argc, char** argv) {
  // A closed stdout (e.g. `xvirt run hello | head -1`) must surface as a
  // write error from the serial back-end, not kill xvirt silently.
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  const std::string self = SelfPath(argv[0]);
  // Under `bazel run`, the process starts in its runfiles tree; paths on
  // the command line mean what they mean where the user typed them.
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY"); dir && *dir) {
    if (chdir(dir) != 0) {
      return Fail(kExitCannotRun,
                  absl::StrFormat("cannot change to %s (BUILD_WORKING_"
                                  "DIRECTORY)",
                                  dir));
    }
  }
  if (args.empty()) {
    PrintUsage(stderr);
    return kExitUsage;
  }
  const std::string& name = args[0];
  if (name == "-h" || name == "--help" || name == "help") {
    if (name == "help" && args.size() > 1) {
      for (const Command& c : kCommands) {
        if (c.spec().name == args[1]) {
          std::cout << HelpText(c.spec());
          return 0;
        }
      }
    }
    PrintUsage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (c.spec().name == name) {
      return c.run({self, std::span<const std::string>(args).subspan(1)});
    }
  }
  return Fail(
      kExitUsage,
      absl::StrFormat("unknown command '%s' (see 'xvirt --help')", name));
}

}  // namespace xv::cli

int main(int argc, char** argv) { return xv::cli::Main(argc, argv); }
