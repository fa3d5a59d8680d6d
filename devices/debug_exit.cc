#include "devices/debug_exit.h"

#include <algorithm>

#include "base/check.h"
#include "devices/byte_ports.h"

namespace xv {

DebugExit::DebugExit(OutputSink* out) : out_(out) {
  XV_CHECK(out != nullptr, "debug-exit needs an output");
}

void DebugExit::PioRead(uint16_t /*port*/, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
}

void DebugExit::PioWrite(uint16_t /*port*/, std::span<const uint8_t> data) {
  const DeviceOutput exit{.kind = OutputKind::kDebugExit,
                          .device = name(),
                          .arg = LittleEndianValue(data),
                          .count = 0,
                          .data = {}};
  out_->Emit(exit);
}

}  // namespace xv
