#include "devices/device_state.h"

#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/check.h"

namespace xv {

namespace {

// Bytes shown in a description before "...".
constexpr size_t kDescribedBytes = 16;

}  // namespace

StateWriter StateWriter::Describing() {
  StateWriter w;
  w.describing_ = true;
  return w;
}

void StateWriter::Le(uint64_t v, int n) {
  for (int i = 0; i < n; ++i)
    bytes_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void StateWriter::Record(std::string_view name, std::string value) {
  XV_CHECK(!name.empty(), "a state field needs a name");
  std::string full_name = prefix_;
  full_name.append(name);
  fields_.push_back({std::move(full_name), std::move(value)});
}

void StateWriter::RecordInt(std::string_view name, uint64_t v) {
  if (describing_) Record(name, absl::StrFormat("0x%02x", v));
}

void StateWriter::U8(std::string_view name, uint8_t v) {
  bytes_.push_back(v);
  RecordInt(name, v);
}

void StateWriter::U16(std::string_view name, uint16_t v) {
  Le(v, 2);
  RecordInt(name, v);
}

void StateWriter::U32(std::string_view name, uint32_t v) {
  Le(v, 4);
  RecordInt(name, v);
}

void StateWriter::U64(std::string_view name, uint64_t v) {
  Le(v, 8);
  RecordInt(name, v);
}

void StateWriter::Bool(std::string_view name, bool v) {
  bytes_.push_back(v ? 1 : 0);
  if (describing_) Record(name, v ? "true" : "false");
}

void StateWriter::Bytes(std::string_view name, std::span<const uint8_t> v) {
  XV_CHECK(v.size() <= UINT32_MAX, "state field longer than 4 GiB");
  Le(v.size(), 4);
  bytes_.insert(bytes_.end(), v.begin(), v.end());
  if (!describing_) return;
  std::string text = absl::StrFormat("%d bytes", v.size());
  if (!v.empty()) absl::StrAppend(&text, ":");
  for (size_t i = 0; i < v.size() && i < kDescribedBytes; ++i) {
    absl::StrAppendFormat(&text, " %02x", v[i]);
  }
  if (v.size() > kDescribedBytes) absl::StrAppend(&text, " ...");
  Record(name, std::move(text));
}

void StateWriter::String(std::string_view name, std::string_view v) {
  XV_CHECK(v.size() <= UINT32_MAX, "state field longer than 4 GiB");
  Le(v.size(), 4);
  bytes_.insert(bytes_.end(), v.begin(), v.end());
  if (describing_)
    Record(name,
           absl::StrCat("\"",
                        absl::CHexEscape(absl::string_view(v.data(), v.size())),
                        "\""));
}

void StateWriter::Registers(std::string_view name, std::span<const uint8_t> v) {
  XV_CHECK(v.size() <= UINT32_MAX, "state field longer than 4 GiB");
  Le(v.size(), 4);
  bytes_.insert(bytes_.end(), v.begin(), v.end());
  if (!describing_) return;
  for (size_t i = 0; i < v.size(); ++i) {
    Record(absl::StrFormat("%s[0x%02x]", name, i),
           absl::StrFormat("0x%02x", v[i]));
  }
}

StateWriter::ScopedPrefix::ScopedPrefix(StateWriter& w, std::string_view prefix)
    : w_(w), restore_size_(w.prefix_.size()) {
  if (w_.describing_) {
    w_.prefix_.append(prefix);
    w_.prefix_.push_back('.');
  }
}

StateWriter::ScopedPrefix::~ScopedPrefix() { w_.prefix_.resize(restore_size_); }

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
