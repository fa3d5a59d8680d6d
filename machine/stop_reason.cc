#include "machine/stop_reason.h"

namespace xv {
namespace {

struct ReasonInfo {
  std::string_view name;
  int status;
};

constexpr ReasonInfo kReasons[] = {
#define XV_INFO(e, name, status) {name, status},
    XV_STOP_REASONS(XV_INFO)
#undef XV_INFO
};

}  // namespace

std::string_view StopReasonName(StopReason reason) {
  return kReasons[static_cast<int>(reason)].name;
}

int StopExitStatus(StopReason reason, uint64_t debug_exit_value) {
  if (reason == StopReason::kDebugExit) {
    return static_cast<int>(debug_exit_value & 0xff);
  }
  return kReasons[static_cast<int>(reason)].status;
}

}  // namespace xv
