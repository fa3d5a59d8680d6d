#include "devices/front_end.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "base/check.h"

namespace xv {
namespace {

// Longest device name accepted in a tag; real names are a few characters.
constexpr size_t kMaxNameBytes = 64;

}  // namespace

std::vector<uint8_t> SaveFrontEnd(const FrontEnd& device) {
  StateWriter w;
  w.String(device.name());
  w.U32(device.state_version());
  device.SaveState(w);
  return w.Take();
}

absl::Status LoadFrontEnd(FrontEnd& device, std::span<const uint8_t> blob) {
  const std::string what = absl::StrFormat("state of %s", device.name());
  StateReader r(blob, what);
  const std::string name = r.String(kMaxNameBytes);
  const uint32_t version = r.U32();
  if (!r.ok()) return r.status();
  if (name != device.name()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: blob was saved by device '%s'", what, absl::CHexEscape(name)));
  }
  if (version != device.state_version()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: blob has state version %d, this build reads %d",
                        what, version, device.state_version()));
  }
  // LoadState() may have assigned fields before Finish() finds trailing
  // bytes; keep the device exactly as it was unless the whole blob is good.
  StateWriter backup;
  device.SaveState(backup);
  absl::Status status = device.LoadState(r);
  if (status.ok()) status = r.Finish();
  if (!status.ok()) {
    StateReader restore(backup.bytes(), what);
    XV_CHECK(device.LoadState(restore).ok() && restore.Finish().ok(),
             "a front-end cannot reload its own saved state");
  }
  return status;
}

}  // namespace xv
