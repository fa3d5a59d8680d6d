// DebugExit: QEMU's isa-debug-exit with iobase=0xf4, iosize=4. A write of
// value v (1, 2 or 4 bytes) emits kDebugExit(arg = v); the machine ends the
// run there with exit status v (QEMU would exit with (v << 1) | 1). Reads
// return 0, as QEMU 7.2's read handler does. No state.
#ifndef EXTRAVIRT_DEVICES_DEBUG_EXIT_H_
#define EXTRAVIRT_DEVICES_DEBUG_EXIT_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "devices/front_end.h"
#include "devices/output_sink.h"

namespace xv {

class DebugExit : public FrontEnd {
 public:
  static constexpr uint16_t kBase = 0xf4;
  static constexpr uint16_t kSize = 4;

  explicit DebugExit(OutputSink* out);

  std::string_view name() const override { return "debug_exit"; }
  uint32_t state_version() const override { return 1; }

  void PioRead(uint16_t port, std::span<uint8_t> data) override;
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override;
  void SaveState(StateWriter& w) const override {}
  absl::Status LoadState(StateReader& r) override { return absl::OkStatus(); }

 private:
  OutputSink* out_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_DEBUG_EXIT_H_
