#include "cli/code_report.h"

#include <string>

#include "absl/strings/str_format.h"

namespace xv::cli {

nlohmann::ordered_json CodeReportJson(const ReplaySession& session,
                                      const ArchState& arch,
                                      const KernelSymbols& symbols,
                                      size_t before, size_t after) {
  const uint64_t rip = arch.regs.rip;
  nlohmann::ordered_json j;
  j["rip"] = absl::StrFormat("0x%x", rip);
  j["symbol"] = symbols.Symbolize(rip);
  if (auto source = symbols.SourceAt(rip)) j["source"] = *source;
  nlohmann::ordered_json listing = nlohmann::ordered_json::array();
  auto code = ListCodeAround(session, arch, symbols, before, after);
  if (code.ok()) {
    for (const ListedInstruction& insn : *code) {
      listing.push_back({{"address", absl::StrFormat("0x%x", insn.address)},
                         {"symbol", insn.symbol},
                         {"text", insn.text},
                         {"at_rip", insn.at_rip}});
    }
  } else {
    j["code_note"] = std::string(code.status().message());
  }
  j["code"] = listing;
  return j;
}

void PrintCodeLines(const nlohmann::ordered_json& report,
                    std::string_view indent) {
  for (const auto& line : report["code"]) {
    absl::PrintF(
        "%s%s %s  %-24s %s\n", indent, line["at_rip"].get<bool>() ? "=>" : "  ",
        line["address"].get<std::string>(), line["symbol"].get<std::string>(),
        line["text"].get<std::string>());
  }
  if (report.contains("code_note")) {
    absl::PrintF("%s  (%s)\n", indent, report["code_note"].get<std::string>());
  }
}

}  // namespace xv::cli
