// xvirt debug: a recording under gdb, with reverse execution.
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_format.h"
#include "cli/commands.h"
#include "debug/gdb_connection.h"
#include "debug/gdb_stub.h"
#include "debug/position.h"
#include "debug/replay_session.h"
#include "session/backend_choice.h"

namespace xv::cli {

const CommandSpec& DebugCommandSpec() {
  static const CommandSpec spec = {
      .name = "debug",
      .usage = "debug LOG --gdb HOST:PORT [--at ESN[+N]]",
      .summary = "serve a recording to gdb, with reverse execution",
      .description =
          "Replays LOG on the emulator backend (the one that can stop at\n"
          "any instruction; any backend's recording replays there) and\n"
          "waits for gdb at HOST:PORT: `target remote HOST:PORT` in gdb,\n"
          "with the guest kernel's ELF file loaded for its symbols. gdb can\n"
          "read registers and memory, set breakpoints and write\n"
          "watchpoints, stepi/step/next/finish/continue, and run backwards:\n"
          "reverse-stepi, reverse-step, reverse-next, reverse-continue\n"
          "(which finds the last breakpoint or watchpoint hit before the\n"
          "present, hit before or not). Snapshots taken while running make\n"
          "going back cost a re-execution from the nearest one. The replay\n"
          "cannot be changed: register and memory writes are refused.\n"
          "Ctrl-C in gdb stops a long continue in either direction. The\n"
          "session ends when gdb detaches, kills or disconnects.\n"
          "Positions: ESN is the rendezvous after that exit, ESN+N the\n"
          "point N instructions later.",
      .options =
          {
              {"gdb", "HOST:PORT",
               "listen there for gdb (HOST defaults to 127.0.0.1; only a "
               "host given explicitly, such as 0.0.0.0, lets other "
               "machines in; port 0 picks a free port, printed)"},
              {"at", "ESN[+N]", "start at this position instead of the boot"},
          },
      .min_positional = 1,
      .max_positional = 1,
  };
  return spec;
}

int DebugCommand(const Invocation& inv) {
  int status = 0;
  std::optional<ParsedArgs> args =
      ParseCommandArgs(DebugCommandSpec(), inv, &status);
  if (!args) return status;
  const std::string path = args->positional()[0];
  const std::optional<std::string> listen_at = args->Get("gdb");
  if (!listen_at) return Fail(kExitUsage, "debug: --gdb HOST:PORT is required");
  std::optional<Position> at;
  if (std::optional<std::string> text = args->Get("at")) {
    auto p = ParsePosition(*text);
    if (!p.ok()) return Fail(kExitUsage, p.status());
    at = *p;
  }
  auto hypervisor = OpenBackend("emu");
  if (!hypervisor.ok()) return Fail(kExitCannotRun, hypervisor.status());
  auto session = ReplaySession::Open(**hypervisor, path);
  if (!session.ok()) return Fail(kExitCannotRun, session.status());
  if (at) {
    auto stop = (*session)->SeekPosition(*at);
    if (!stop.ok()) return Fail(kExitUsage, stop.status());
  }
  auto listener = GdbListener::Listen(*listen_at);
  if (!listener.ok()) return Fail(kExitCannotRun, listener.status());
  std::fprintf(stderr,
               "xvirt: %s (%s, %zu inputs) at ESN %s; waiting for gdb: "
               "target remote %s\n",
               path.c_str(), (*session)->recording().kernel_name.c_str(),
               (*session)->inputs().size(),
               FormatPosition((*session)->position()).c_str(),
               listener->address().c_str());
  auto connection = listener->Accept(std::nullopt);
  if (!connection.ok()) return Fail(kExitCannotRun, connection.status());
  GdbStub stub(**session, *connection);
  if (absl::Status s = stub.Serve(); !s.ok()) {
    return Fail(kExitCannotRun, s);
  }
  std::fprintf(stderr, "xvirt: gdb left at ESN %s\n",
               FormatPosition((*session)->position()).c_str());
  return 0;
}

}  // namespace xv::cli
