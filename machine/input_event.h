// InputEvent: one nondeterministic input crossing into a replica (DESIGN §2).
// Every input of a run, whatever its source (back-ends in a live run, the log
// in a replay), enters through Machine::ApplyInput(), after an exit has been
// handled and before the vCPU re-enters.
#ifndef EXTRAVIRT_MACHINE_INPUT_EVENT_H_
#define EXTRAVIRT_MACHINE_INPUT_EVENT_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace xv {

enum class InputKind : uint8_t {
  kClockAdvance,        // value: new virtual time (ns since boot)
  kSerialRx,            // data: bytes arriving at the UART
  kDiskReadCompletion,  // value: LBA; data: the sectors read
  // value: what a guest read of a boundary device (one that cannot be split
  // into front-end and back-end, DESIGN §2) returned; address: its port or
  // guest-physical address; size: access width in bytes. Our PC has none;
  // VMMs using the library surface may.
  kBoundaryRead,
};

std::string_view InputKindName(InputKind kind);

struct InputEvent {
  InputKind kind;
  uint64_t value = 0;
  std::vector<uint8_t> data;
  uint64_t address = 0;
  uint8_t size = 0;
  bool is_mmio = false;  // kBoundaryRead: a guest-physical address, not a port

  static InputEvent ClockAdvance(uint64_t ns) {
    return {InputKind::kClockAdvance, ns, {}};
  }
  static InputEvent SerialRx(std::span<const uint8_t> bytes) {
    return {InputKind::kSerialRx, 0, {bytes.begin(), bytes.end()}};
  }
  static InputEvent DiskReadCompletion(uint64_t lba,
                                       std::vector<uint8_t> sectors) {
    return {InputKind::kDiskReadCompletion, lba, std::move(sectors)};
  }
  static InputEvent BoundaryRead(uint64_t address, uint8_t size, uint64_t value,
                                 bool is_mmio = false) {
    return {InputKind::kBoundaryRead, value, {}, address, size, is_mmio};
  }
  friend bool operator==(const InputEvent&, const InputEvent&) = default;
};

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_INPUT_EVENT_H_
