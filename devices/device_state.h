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
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace xv {

// One field of a front-end's state, for people: its name ("lcr",
// "channel[0].count") and its value ("0x03", "true", "3 bytes: 68 69 0a",
// "\"uart0\"").
struct DeviceField {
  std::string name;
  std::string value;
  friend bool operator==(const DeviceField&, const DeviceField&) = default;
};

// Every field is written with a name. Names are not part of the encoding (the
// bytes are exactly the little-endian values), they serve the describing
// mode: a writer made with StateWriter::Describing() additionally records
// each field's full name (Scope prefixes joined by '.') and its value
// formatted for people. Names must be unique within one device.
class StateWriter {
 public:
  // A plain writer: bytes only, as cheap as an unnamed encoder.
  StateWriter() = default;
  // A writer that also records fields().
  static StateWriter Describing();

  void U8(std::string_view name, uint8_t v);
  void U16(std::string_view name, uint16_t v);
  void U32(std::string_view name, uint32_t v);
  void U64(std::string_view name, uint64_t v);
  void Bool(std::string_view name, bool v);
  // Length-prefixed (u32) byte string.
  void Bytes(std::string_view name, std::span<const uint8_t> v);
  void String(std::string_view name, std::string_view v);
  // A register file: encoded exactly like Bytes(), described as one field
  // per byte, "name[0x0b]" (so a difference names the register).
  void Registers(std::string_view name, std::span<const uint8_t> v);

  // Prefixes the names of the fields written while it lives with
  // "<prefix>." (nestable): `auto s = w.Scope("channel[0]");
  // w.U32("count", c)` names the field "channel[0].count".
  class [[nodiscard]] ScopedPrefix {
   public:
    ScopedPrefix(const ScopedPrefix&) = delete;
    ScopedPrefix& operator=(const ScopedPrefix&) = delete;
    ~ScopedPrefix();

   private:
    friend class StateWriter;
    ScopedPrefix(StateWriter& w, std::string_view prefix);
    StateWriter& w_;
    size_t restore_size_;
  };
  ScopedPrefix Scope(std::string_view prefix) { return {*this, prefix}; }

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> Take() { return std::move(bytes_); }
  bool describing() const { return describing_; }
  // The fields written so far, in order (empty unless describing()).
  const std::vector<DeviceField>& fields() const { return fields_; }
  std::vector<DeviceField> TakeFields() { return std::move(fields_); }

 private:
  void Le(uint64_t v, int n);
  void Record(std::string_view name, std::string value);
  void RecordInt(std::string_view name, uint64_t v);

  std::vector<uint8_t> bytes_;
  bool describing_ = false;
  std::string prefix_;
  std::vector<DeviceField> fields_;
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
