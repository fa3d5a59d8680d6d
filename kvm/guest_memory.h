// GuestMemory: the host mapping that backs guest physical memory
// [0, size()), and the only way VMM code reads or writes it.
//
// Every write the VMM makes into guest memory (loader, future DMA) goes
// through Write()/MutableSpan(), so dirty tracking can later account for it
// in one place (DESIGN §5: nothing may be missed).
#ifndef EXTRAVIRT_KVM_GUEST_MEMORY_H_
#define EXTRAVIRT_KVM_GUEST_MEMORY_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "base/scoped_mapping.h"

namespace xv {

inline constexpr uint64_t kPageSize = 4096;

class GuestMemory {
 public:
  // Zero-filled anonymous memory; `size` must be a multiple of kPageSize.
  // Pages are allocated by the host only when touched.
  static absl::StatusOr<GuestMemory> Create(uint64_t size);

  uint64_t size() const { return mapping_.size(); }

  // Bounds-checked views; the error names the guest-physical range.
  absl::StatusOr<std::span<const uint8_t>> Span(uint64_t gpa,
                                                uint64_t len) const;
  absl::StatusOr<std::span<uint8_t>> MutableSpan(uint64_t gpa, uint64_t len);
  absl::Status Read(uint64_t gpa, std::span<uint8_t> out) const;
  absl::Status Write(uint64_t gpa, std::span<const uint8_t> data);

  // Hash of the contents: XXH3-128 over the sequence of per-page XXH3-128
  // digests. Pages never touched (neither present nor swapped per
  // /proc/self/pagemap) are zero in anonymous memory and take the zero
  // page's digest without being read, so the cost follows the pages the
  // guest used, not the memory size. Equal contents, equal hash.
  Hash128 ContentHash() const;

  // The whole range, for registering the memory slot.
  std::span<uint8_t> host_span() { return mapping_.span(); }
  std::span<const uint8_t> host_span() const { return mapping_.span(); }

 private:
  explicit GuestMemory(ScopedMapping mapping) : mapping_(std::move(mapping)) {}
  absl::Status CheckRange(uint64_t gpa, uint64_t len) const;

  ScopedMapping mapping_;
};

}  // namespace xv

#endif  // EXTRAVIRT_KVM_GUEST_MEMORY_H_
