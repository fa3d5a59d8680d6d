#include "replay/output_digests.h"

#include "absl/strings/str_format.h"

namespace xv {
namespace {

constexpr size_t kPreviewBytes = 48;

}  // namespace

void OutputDigests::Add(uint64_t esn, const DeviceOutput& output) {
  auto it = pending_.find(output.device);
  if (it == pending_.end()) {
    it = pending_.emplace(std::string(output.device), Pending{}).first;
    it->second.first_esn = esn;
  }
  Pending& p = it->second;
  // Everything that distinguishes two outputs, length-prefixed so that
  // adjacent outputs cannot alias.
  p.hasher.UpdateU64(static_cast<uint64_t>(output.kind));
  p.hasher.UpdateU64(output.arg);
  p.hasher.UpdateU64(output.count);
  p.hasher.UpdateU64(output.data.size());
  p.hasher.Update(output.data);
  ++p.outputs;
  p.bytes += output.data.size();
  if (p.preview.size() < kPreviewBytes) {
    if (output.kind == OutputKind::kSerialTx) {
      for (uint8_t c : output.data) {
        if (c >= 0x20 && c < 0x7f) {
          p.preview.push_back(static_cast<char>(c));
        } else {
          absl::StrAppendFormat(&p.preview, "\\x%02x", c);
        }
      }
    } else {
      absl::StrAppendFormat(&p.preview, "[%s arg %d count %d] ",
                            OutputKindName(output.kind), output.arg,
                            output.count);
    }
  }
}

std::vector<LoggedDigest> OutputDigests::TakeDue(
    uint64_t esn, bool all, std::vector<std::string>* previews) {
  std::vector<LoggedDigest> due;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const Pending& p = it->second;
    if (all || p.bytes >= policy_.max_bytes ||
        esn - p.first_esn >= policy_.max_exits) {
      due.push_back({.esn = esn,
                     .device = it->first,
                     .outputs = p.outputs,
                     .bytes = p.bytes,
                     .hash = p.hasher.Digest()});
      if (previews != nullptr) previews->push_back(p.preview);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

}  // namespace xv
