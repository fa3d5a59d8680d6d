// The code at RIP as `xvirt inspect` and `xvirt diff` report it, in JSON
// and as text.
#ifndef EXTRAVIRT_CLI_CODE_REPORT_H_
#define EXTRAVIRT_CLI_CODE_REPORT_H_

#include <cstddef>
#include <string_view>

#include "debug/code_listing.h"
#include "debug/replay_session.h"
#include "hypervisor/arch_state.h"
#include "nlohmann/json.hpp"

namespace xv::cli {

// {"rip", "symbol", "source" (with DWARF), "code": [{"address", "symbol",
// "text", "at_rip"}...], "code_note" (why there is no listing)}.
nlohmann::ordered_json CodeReportJson(const ReplaySession& session,
                                      const ArchState& arch,
                                      const KernelSymbols& symbols,
                                      size_t before, size_t after);

// The listing of a CodeReportJson, one instruction a line, RIP's marked.
void PrintCodeLines(const nlohmann::ordered_json& report,
                    std::string_view indent);

}  // namespace xv::cli

#endif  // EXTRAVIRT_CLI_CODE_REPORT_H_
