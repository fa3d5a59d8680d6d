// Hash128: the 128-bit XXH3 digest used for state hashes, page hashes and
// output digests throughout the project, and a streaming hasher for it.
#ifndef EXTRAVIRT_BASE_HASH128_H_
#define EXTRAVIRT_BASE_HASH128_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace xv {

struct Hash128 {
  uint64_t high = 0;
  uint64_t low = 0;

  friend bool operator==(const Hash128&, const Hash128&) = default;

  // 32 lowercase hex digits, most significant first (XXH128's canonical
  // big-endian form, as printed by `xxh128sum`).
  std::string ToHex() const;
  static absl::StatusOr<Hash128> FromHex(std::string_view hex);
};

// One-shot XXH3-128 of a byte range.
Hash128 HashBytes(std::span<const uint8_t> bytes);

// Streaming XXH3-128: Update() any number of times, then Digest(). The
// result equals HashBytes() of the concatenated input.
class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;

  void Update(std::span<const uint8_t> bytes);
  void Update(std::string_view bytes) {
    Update({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  }
  // Mixes in a fixed-width integer (little-endian), e.g. a length prefix that
  // keeps adjacent variable-length fields from aliasing.
  void UpdateU64(uint64_t value);
  void Update(const Hash128& h);
  Hash128 Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace xv

#endif  // EXTRAVIRT_BASE_HASH128_H_
