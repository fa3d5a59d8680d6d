#include "kvm/guest_memory.h"

#include <sys/mman.h>

#include <cstring>

#include "absl/strings/str_format.h"

namespace xv {

absl::StatusOr<GuestMemory> GuestMemory::Create(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "guest memory size %d is not a positive multiple of %d", size,
        kPageSize));
  }
  auto mapping =
      ScopedMapping::Map(size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0,
                         "guest memory");
  if (!mapping.ok()) return mapping.status();
  return GuestMemory(std::move(*mapping));
}

absl::Status GuestMemory::CheckRange(uint64_t gpa, uint64_t len) const {
  if (gpa > size() || len > size() - gpa) {
    return absl::OutOfRangeError(absl::StrFormat(
        "guest physical range [0x%x, 0x%x) is outside guest memory (0x%x "
        "bytes)",
        gpa, gpa + len, size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::span<const uint8_t>> GuestMemory::Span(
    uint64_t gpa, uint64_t len) const {
  if (absl::Status s = CheckRange(gpa, len); !s.ok()) return s;
  return std::span<const uint8_t>(mapping_.data() + gpa, len);
}

absl::StatusOr<std::span<uint8_t>> GuestMemory::MutableSpan(uint64_t gpa,
                                                            uint64_t len) {
  if (absl::Status s = CheckRange(gpa, len); !s.ok()) return s;
  return std::span<uint8_t>(mapping_.data() + gpa, len);
}

absl::Status GuestMemory::Read(uint64_t gpa, std::span<uint8_t> out) const {
  auto src = Span(gpa, out.size());
  if (!src.ok()) return src.status();
  std::memcpy(out.data(), src->data(), out.size());
  return absl::OkStatus();
}

absl::Status GuestMemory::Write(uint64_t gpa, std::span<const uint8_t> data) {
  auto dst = MutableSpan(gpa, data.size());
  if (!dst.ok()) return dst.status();
  std::memcpy(dst->data(), data.data(), data.size());
  return absl::OkStatus();
}

}  // namespace xv
