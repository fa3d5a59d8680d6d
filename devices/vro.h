// Vro: the voluntary rendezvous port 0x80 (DESIGN §2). An `out` to it does
// nothing but cause a guest-initiated exit, where pending interrupts can be
// injected; guests insert such exits where they need bounded interrupt
// latency. Reads return 0xff. On a PC (and in QEMU) 0x80 is the POST
// diagnostic port, an equally inert sink, so guests behave the same there.
#ifndef EXTRAVIRT_DEVICES_VRO_H_
#define EXTRAVIRT_DEVICES_VRO_H_

#include <algorithm>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "devices/front_end.h"

namespace xv {

class Vro : public FrontEnd {
 public:
  std::string_view name() const override { return "vro"; }
  uint32_t state_version() const override { return 1; }

  void PioRead(uint16_t port, std::span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
  }
  void PioWrite(uint16_t port, std::span<const uint8_t> data) override {}
  void SaveState(StateWriter& w) const override {}
  absl::Status LoadState(StateReader& r) override { return absl::OkStatus(); }
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_VRO_H_
