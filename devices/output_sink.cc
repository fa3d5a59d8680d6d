#include "devices/output_sink.h"

namespace xv {

std::string_view OutputKindName(OutputKind kind) {
  switch (kind) {
    case OutputKind::kSerialTx:
      return "serial_tx";
    case OutputKind::kDiskWrite:
      return "disk_write";
    case OutputKind::kDiskReadRequest:
      return "disk_read_request";
    case OutputKind::kDebugExit:
      return "debug_exit";
  }
  return "unknown";
}

}  // namespace xv
