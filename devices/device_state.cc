#include "devices/device_state.h"

#include <string>

#include "absl/strings/str_format.h"
#include "base/check.h"

namespace xv {

void StateWriter::Le(uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void StateWriter::Bytes(std::span<const uint8_t> v) {
  XV_CHECK(v.size() <= UINT32_MAX, "state field longer than 4 GiB");
  U32(static_cast<uint32_t>(v.size()));
  bytes_.insert(bytes_.end(), v.begin(), v.end());
}

void StateWriter::String(std::string_view v) {
  Bytes({reinterpret_cast<const uint8_t*>(v.data()), v.size()});
}

StateReader::StateReader(std::span<const uint8_t> bytes, std::string_view what)
    : bytes_(bytes), what_(what) {}

uint64_t StateReader::Le(int n) {
  if (!ok()) return 0;
  if (remaining() < static_cast<size_t>(n)) {
    Fail(absl::StrFormat("truncated at offset %d: needs %d bytes, %d left",
                         pos_, n, remaining()));
    return 0;
  }
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= uint64_t{bytes_[pos_ + i]} << (8 * i);
  pos_ += n;
  return v;
}

bool StateReader::Bool() {
  const size_t at = pos_;
  const uint8_t v = U8();
  if (v > 1) {
    Fail(absl::StrFormat("invalid bool %d at offset %d", v, at));
    return false;
  }
  return v == 1;
}

std::vector<uint8_t> StateReader::Bytes(size_t max_size) {
  const size_t at = pos_;
  const uint32_t n = U32();
  if (!ok()) return {};
  if (n > max_size) {
    Fail(
        absl::StrFormat("byte string at offset %d has %d bytes, at most %d "
                        "allowed",
                        at, n, max_size));
    return {};
  }
  if (n > remaining()) {
    Fail(
        absl::StrFormat("truncated at offset %d: byte string of %d bytes, %d "
                        "left",
                        pos_, n, remaining()));
    return {};
  }
  std::vector<uint8_t> out(bytes_.begin() + pos_, bytes_.begin() + pos_ + n);
  pos_ += n;
  return out;
}

std::string StateReader::String(size_t max_size) {
  std::vector<uint8_t> b = Bytes(max_size);
  return std::string(b.begin(), b.end());
}

void StateReader::BytesInto(std::span<uint8_t> out) {
  const size_t at = pos_;
  const uint32_t n = U32();
  if (!ok()) return;
  if (n != out.size()) {
    Fail(absl::StrFormat("byte string at offset %d has %d bytes, expected %d",
                         at, n, out.size()));
    return;
  }
  if (n > remaining()) {
    Fail(
        absl::StrFormat("truncated at offset %d: byte string of %d bytes, %d "
                        "left",
                        pos_, n, remaining()));
    return;
  }
  std::copy(bytes_.begin() + pos_, bytes_.begin() + pos_ + n, out.begin());
  pos_ += n;
}

void StateReader::Check(bool ok, std::string_view field) {
  if (!ok) {
    Fail(absl::StrFormat("field '%s' (ending at offset %d) out of range", field,
                         pos_));
  }
}

absl::Status StateReader::Finish() const {
  if (!ok()) return status_;
  if (remaining() != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %d trailing bytes after offset %d", what_, remaining(), pos_));
  }
  return absl::OkStatus();
}

void StateReader::Fail(std::string_view why) {
  if (!ok()) return;
  status_ = absl::InvalidArgumentError(absl::StrFormat("%s: %s", what_, why));
}

}  // namespace xv
