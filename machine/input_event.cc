#include "machine/input_event.h"

namespace xv {

std::string_view InputKindName(InputKind kind) {
  switch (kind) {
    case InputKind::kClockAdvance:
      return "clock_advance";
    case InputKind::kSerialRx:
      return "serial_rx";
    case InputKind::kDiskReadCompletion:
      return "disk_read_completion";
    case InputKind::kBoundaryRead:
      return "boundary_read";
  }
  return "unknown";
}

}  // namespace xv
