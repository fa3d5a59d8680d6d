// StopReason: why a run ended, with the names reports use and the process
// exit status `xvirt` returns for each (see cli/README.md).
#ifndef EXTRAVIRT_MACHINE_STOP_REASON_H_
#define EXTRAVIRT_MACHINE_STOP_REASON_H_

#include <cstdint>
#include <string_view>

namespace xv {

// name, exit status when the guest did not choose one.
#define XV_STOP_REASONS(X)                     \
  X(kDebugExit, "debug_exit", 0)               \
  X(kTripleFault, "triple_fault", 126)         \
  X(kInternalError, "internal_error", 126)     \
  X(kFailEntry, "fail_entry", 126)             \
  X(kHaltedForever, "halted_forever", 126)     \
  X(kUnsupportedExit, "unsupported_exit", 126) \
  X(kTimeout, "timeout", 124)                  \
  X(kInterrupted, "interrupted", 130)          \
  X(kStopPoint, "stop_point", 0)

enum class StopReason : uint8_t {
#define XV_ENUM(e, name, status) e,
  XV_STOP_REASONS(XV_ENUM)
#undef XV_ENUM
};

std::string_view StopReasonName(StopReason reason);
// The process exit status for a run that stopped for `reason`; for
// kDebugExit it is the low 8 bits of the value the guest wrote.
int StopExitStatus(StopReason reason, uint64_t debug_exit_value);

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_STOP_REASON_H_
