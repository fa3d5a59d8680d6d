#include "devices/front_end.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
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
  w.String("device", device.name());
  w.U32("state_version", device.state_version());
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

std::vector<DeviceField> DescribeFrontEnd(const FrontEnd& device) {
  StateWriter w = StateWriter::Describing();
  device.SaveState(w);
  return w.TakeFields();
}

std::vector<DeviceFieldDifference> CompareFrontEnds(const FrontEnd& a,
                                                    const FrontEnd& b) {
  XV_CHECK(a.name() == b.name(), "CompareFrontEnds: different devices");
  const std::vector<DeviceField> fields_a = DescribeFrontEnd(a);
  const std::vector<DeviceField> fields_b = DescribeFrontEnd(b);
  absl::flat_hash_map<std::string_view, const std::string*> values_b;
  for (const DeviceField& f : fields_b) values_b[f.name] = &f.value;
  absl::flat_hash_set<std::string_view> names_a;
  std::vector<DeviceFieldDifference> differences;
  for (const DeviceField& f : fields_a) {
    names_a.insert(f.name);
    const auto it = values_b.find(f.name);
    const std::string value_b = it == values_b.end() ? "" : *it->second;
    if (f.value != value_b) differences.push_back({f.name, f.value, value_b});
  }
  for (const DeviceField& f : fields_b) {
    if (!names_a.contains(f.name)) differences.push_back({f.name, "", f.value});
  }
  return differences;
}

}  // namespace xv
