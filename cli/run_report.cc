#include "cli/run_report.h"

#include "hypervisor/cpu_exit.h"

namespace xv::cli {

nlohmann::ordered_json RunReportJson(
    const std::string& guest, std::string_view backend, const RunResult& r,
    const ExitStats& stats, const std::optional<Hash128>& final_state) {
  nlohmann::ordered_json exits = nlohmann::ordered_json::object();
  for (int k = 0; k < kNumExitKinds; ++k) {
    exits[std::string(ExitKindName(static_cast<ExitKind>(k)))] =
        stats.by_kind[k];
  }
  nlohmann::ordered_json pio = nlohmann::ordered_json::object();
  for (const auto& [device, count] : stats.pio_by_device) {
    pio[device] = count;
  }
  nlohmann::ordered_json j;
  j["guest"] = guest;
  j["backend"] = std::string(backend);
  j["exit_code"] = r.exit_status;
  j["stop_reason"] = std::string(StopReasonName(r.reason));
  j["message"] = r.message;
  j["esn"] = r.esn;
  j["exits"] = exits;
  j["pio_by_device"] = pio;
  j["wall_seconds"] = r.wall_seconds;
  j["final_state_hash"] = final_state
                              ? nlohmann::ordered_json(final_state->ToHex())
                              : nlohmann::ordered_json(nullptr);
  if (r.reason == StopReason::kDebugExit) {
    j["debug_exit_value"] = r.debug_exit_value;
  }
  return j;
}

nlohmann::ordered_json ErrorReportJson(const std::string& message) {
  nlohmann::ordered_json j;
  j["error"] = message;
  return j;
}

}  // namespace xv::cli
