// FrontEnd: the guest-visible half of an emulated device (DESIGN §2).
//
// A front-end lives inside each replica. It is a deterministic state machine
// driven only by guest port accesses, by input events (delivered through
// methods of the concrete class) and by the virtual clock. It never touches
// the host: whatever leaves the replica goes out through an OutputSink, and
// interrupt lines go to an IrqSink.
#ifndef EXTRAVIRT_DEVICES_FRONT_END_H_
#define EXTRAVIRT_DEVICES_FRONT_END_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "devices/device_state.h"

namespace xv {

class FrontEnd {
 public:
  virtual ~FrontEnd() = default;

  // Stable name used in state blobs, checkpoints and reports ("uart0").
  virtual std::string_view name() const = 0;
  // Bumped whenever SaveState()'s encoding changes.
  virtual uint32_t state_version() const = 0;

  // A guest `in`/`out` at an absolute port. `data` is 1, 2 or 4 bytes,
  // little-endian; a read must fill all of it.
  virtual void PioRead(uint16_t port, std::span<uint8_t> data) = 0;
  virtual void PioWrite(uint16_t port, std::span<const uint8_t> data) = 0;

  // Every bit of state that can influence future behaviour, and nothing that
  // cannot (so equal behaviour means equal bytes). Configuration fixed at
  // construction (disk capacity, initial wall time) is not state.
  virtual void SaveState(StateWriter& w) const = 0;
  virtual absl::Status LoadState(StateReader& r) = 0;

  // The virtual clock moved: update IRQ outputs for deadlines now passed.
  virtual void OnClockAdvanced() {}
  // Earliest virtual time (ns) at which this device will change an IRQ
  // output without guest action, if any. Lets an idle machine sleep.
  virtual std::optional<uint64_t> NextDeadlineNs() const {
    return std::nullopt;
  }
};

// Tagged, versioned state of one front-end: its name and state_version()
// followed by SaveState(). LoadFrontEnd refuses a blob saved by a different
// device or version, and one with bytes left over.
std::vector<uint8_t> SaveFrontEnd(const FrontEnd& device);
absl::Status LoadFrontEnd(FrontEnd& device, std::span<const uint8_t> blob);

// The device's state field by field, in encoding order, for people
// (`xvirt inspect`): the names and formatted values SaveState() gives its
// fields (see StateWriter::Describing()). The tag (name, version) is not a
// field.
std::vector<DeviceField> DescribeFrontEnd(const FrontEnd& device);

// One field whose value differs between two front-ends. A field present in
// only one of them (a variable-length list such as ATA's pending reads) has
// an empty value on the other side; described values are never empty.
struct DeviceFieldDifference {
  std::string name;
  std::string value_a;
  std::string value_b;
  friend bool operator==(const DeviceFieldDifference&,
                         const DeviceFieldDifference&) = default;
};

// The fields that differ between `a` and `b` (`xvirt diff`), matched by
// name: in a's field order, then fields only b has, in b's order. Both must
// be the same kind of device (equal name()); equal state gives no
// differences.
std::vector<DeviceFieldDifference> CompareFrontEnds(const FrontEnd& a,
                                                    const FrontEnd& b);

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_FRONT_END_H_
