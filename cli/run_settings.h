// The options shared by every command that runs a guest (`run`, `record`,
// `replicate`, `demo`): their table for the parser and help, and their
// validation into a RunSettings (session/live_run.h).
#ifndef EXTRAVIRT_CLI_RUN_SETTINGS_H_
#define EXTRAVIRT_CLI_RUN_SETTINGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/command_line.h"
#include "cli/guest_catalog.h"
#include "session/live_run.h"

namespace xv::cli {

std::vector<OptionSpec> RunOptionSpecs();
// --backend alone, for commands that take it without the others (replay,
// demo), and its value, validated ("auto" when not given).
OptionSpec BackendOptionSpec();
absl::StatusOr<std::string> ParseBackendOption(const ParsedArgs& args);

// Validates the parsed options; positional()[0] is the kernel (a path or a
// bundled guest name).
absl::StatusOr<RunSettings> ParseRunSettings(const ParsedArgs& args,
                                             const GuestCatalog& catalog);

// The exit status for a ParseRunSettings() error: a usage error for a bad
// option value, "cannot run" for the rest (a missing kernel, ...).
int RunSettingsErrorExitStatus(const absl::Status& error);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_RUN_SETTINGS_H_
