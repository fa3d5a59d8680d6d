#include "capi/run_result_conversion.h"

#include "capi/c_status.h"
#include "capi/hash_conversion.h"
#include "machine/stop_reason.h"

namespace xv::capi {
namespace {

xv_stop_reason StopReasonToC(StopReason reason) {
  switch (reason) {
    case StopReason::kDebugExit:
      return XV_STOP_DEBUG_EXIT;
    case StopReason::kTripleFault:
      return XV_STOP_TRIPLE_FAULT;
    case StopReason::kInternalError:
      return XV_STOP_INTERNAL_ERROR;
    case StopReason::kFailEntry:
      return XV_STOP_FAIL_ENTRY;
    case StopReason::kHaltedForever:
      return XV_STOP_HALTED_FOREVER;
    case StopReason::kUnsupportedExit:
      return XV_STOP_UNSUPPORTED_EXIT;
    case StopReason::kTimeout:
      return XV_STOP_TIMEOUT;
    case StopReason::kInterrupted:
      return XV_STOP_INTERRUPTED;
    case StopReason::kStopPoint:
      return XV_STOP_STOP_POINT;
  }
  return XV_STOP_INTERNAL_ERROR;
}

}  // namespace

xv_run_result ToC(const RunResult& result, std::string_view backend,
                  const std::optional<Hash128>& final_state_hash) {
  xv_run_result r{};
  r.struct_size = sizeof r;
  r.stop_reason = StopReasonToC(result.reason);
  r.exit_status = result.exit_status;
  r.debug_exit_value = result.debug_exit_value;
  r.esn = result.esn;
  r.wall_seconds = result.wall_seconds;
  r.has_final_state_hash = final_state_hash.has_value() ? 1 : 0;
  if (final_state_hash) r.final_state_hash = ToC(*final_state_hash);
  CopyText(r.backend, backend);
  CopyText(r.message, result.message);
  return r;
}

}  // namespace xv::capi
