// CommandLine: parsing of one xvirt subcommand's arguments against a table
// of options, and the help text generated from that same table (so help and
// parser never drift apart).
#ifndef EXTRAVIRT_CLI_COMMAND_LINE_H_
#define EXTRAVIRT_CLI_COMMAND_LINE_H_

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace xv::cli {

// Exit statuses of xvirt itself (a guest's own value otherwise; see
// machine/stop_reason.h for guest stops).
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCannotRun = 125;

struct OptionSpec {
  std::string name;        // without the leading "--"
  std::string value_name;  // empty for a flag that takes no value
  std::string help;
  // A one-letter alias ("-o"), or 0.
  char short_name = 0;
};

struct CommandSpec {
  std::string name;         // "run"
  std::string usage;        // "run KERNEL [options]"
  std::string summary;      // one line, for `xvirt --help`
  std::string description;  // paragraphs after the usage line
  std::vector<OptionSpec> options;
  size_t min_positional = 0;
  size_t max_positional = 0;
};

class ParsedArgs {
 public:
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::optional<std::string> Get(const std::string& name) const;
  // The value parsed as a number in [min, max]; the error names the option.
  absl::StatusOr<std::optional<double>> GetNumber(const std::string& name,
                                                  double min, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  friend absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec&,
                                              std::span<const std::string>);
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Accepts "--name value", "--name=value", "--flag", "--" (end of options)
// and `-h`/`--help` (reported as the option "help"). Errors are one line.
absl::StatusOr<ParsedArgs> ParseArgs(const CommandSpec& spec,
                                     std::span<const std::string> args);

std::string HelpText(const CommandSpec& spec);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_COMMAND_LINE_H_
