// The JSON object `xvirt run --json` prints (and later `record`, `replay`,
// `replicate` extend). Keys are part of the CLI's interface: never rename.
#ifndef EXTRAVIRT_CLI_RUN_REPORT_H_
#define EXTRAVIRT_CLI_RUN_REPORT_H_

#include <string>

#include "session/live_run.h"
#include "nlohmann/json.hpp"

namespace xv::cli {

// guest, backend, exit_code, stop_reason, message, esn, exits (by kind),
// pio_by_device, wall_seconds, final_state_hash.
nlohmann::ordered_json RunReportJson(const std::string& guest,
                                     std::string_view backend,
                                     const RunResult& result,
                                     const ExitStats& stats,
                                     const std::optional<Hash128>& final_state);
inline nlohmann::ordered_json RunReportJson(const std::string& guest,
                                            const LiveRunOutcome& outcome) {
  return RunReportJson(guest, outcome.backend, outcome.result, outcome.stats,
                       outcome.final_state_hash);
}

// The object printed when the run could not happen: {"error": message}.
nlohmann::ordered_json ErrorReportJson(const std::string& message);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_RUN_REPORT_H_
