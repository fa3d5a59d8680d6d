// The xvirt subcommands: one file each (STYLE: one *_command.cc per
// subcommand). Each returns the process exit status.
#ifndef EXTRAVIRT_CLI_COMMANDS_H_
#define EXTRAVIRT_CLI_COMMANDS_H_

#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "cli/command_line.h"

namespace xv::cli {

struct Invocation {
  std::string argv0;
  std::span<const std::string> args;  // after the subcommand name
};

const CommandSpec& RunCommandSpec();
int RunCommand(const Invocation& inv);

const CommandSpec& GuestsCommandSpec();
int GuestsCommand(const Invocation& inv);

const CommandSpec& RecordCommandSpec();
int RecordCommand(const Invocation& inv);

const CommandSpec& ReplayCommandSpec();
int ReplayCommand(const Invocation& inv);

const CommandSpec& LogCommandSpec();
int LogCommand(const Invocation& inv);

const CommandSpec& ReplicateCommandSpec();
int ReplicateCommand(const Invocation& inv);

const CommandSpec& CampaignCommandSpec();
int CampaignCommand(const Invocation& inv);

const CommandSpec& DebugCommandSpec();
int DebugCommand(const Invocation& inv);

const CommandSpec& InspectCommandSpec();
int InspectCommand(const Invocation& inv);

const CommandSpec& DiffCommandSpec();
int DiffCommand(const Invocation& inv);

const CommandSpec& DemoCommandSpec();
int DemoCommand(const Invocation& inv);

// Parses a command's arguments. Returns nullopt when the command is already
// finished — bad usage (error printed) or --help (help printed) — with the
// exit status in *status.
std::optional<ParsedArgs> ParseCommandArgs(const CommandSpec& spec,
                                           const Invocation& inv, int* status);

// Prints "xvirt: <message>" on stderr (one line) and returns `status`.
int Fail(int status, std::string_view message);
// Same; with `json`, also prints {"error": message} on stdout first.
int Fail(int status, std::string_view message, bool json);
int Fail(int status, const absl::Status& error, bool json);
// Same, with the status's message.
int Fail(int status, const absl::Status& error);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_COMMANDS_H_
