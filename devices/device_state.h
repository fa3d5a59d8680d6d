// StateWriter / StateReader: the little-endian byte encoding of front-end
// state, used for checkpoints and state hashes.
//
// StateReader validates as it goes and keeps the first error ("sticky"), so a
// LoadState() reads every field unconditionally and returns r.status() once;
// a truncated or out-of-range blob never leaves a device half-loaded with
// garbage silently — callers restore from a saved copy on error.
#ifndef EXTRAVIRT_DEVICES_DEVICE_STATE_H_
#define EXTRAVIRT_DEVICES_DEVICE_STATE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace xv {

class StateWriter {
 public:
  void U8(uint8_t v) { bytes_.push_back(v); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void Bool(bool v) { U8(v ? 1 : 0); }
  // Length-prefixed (u32) byte string.
  void Bytes(std::span<const uint8_t> v);
  void String(std::string_view v);

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> Take() { return std::move(bytes_); }

 private:
  void Le(uint64_t v, int n);
  std::vector<uint8_t> bytes_;
};

class StateReader {
 public:
  // `what` names the blob in errors ("state of uart0").
  StateReader(std::span<const uint8_t> bytes, std::string_view what);

  uint8_t U8() { return static_cast<uint8_t>(Le(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Le(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }
  // Fails on any value other than 0 or 1.
  bool Bool();
  // A length-prefixed byte string of at most `max_size` bytes.
  std::vector<uint8_t> Bytes(size_t max_size);
  std::string String(size_t max_size);
  // A length-prefixed byte string whose length must equal out.size().
  void BytesInto(std::span<uint8_t> out);

  // Records an error unless `ok` (a decoded value out of range); `field`
  // names it in the message.
  void Check(bool ok, std::string_view field);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  size_t remaining() const { return bytes_.size() - pos_; }
  // The first error, or an error if bytes are left unread.
  absl::Status Finish() const;

 private:
  uint64_t Le(int n);
  void Fail(std::string_view why);

  std::span<const uint8_t> bytes_;
  std::string what_;
  size_t pos_ = 0;
  absl::Status status_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_DEVICE_STATE_H_
