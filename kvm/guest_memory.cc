#include "kvm/guest_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/scoped_fd.h"

namespace xv {

absl::StatusOr<GuestMemory> GuestMemory::Create(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("guest memory size %d is not a positive multiple of %d",
                        size, kPageSize));
  }
  auto mapping = ScopedMapping::Map(size, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                    -1, 0, "guest memory");
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

absl::StatusOr<std::span<const uint8_t>> GuestMemory::Span(uint64_t gpa,
                                                           uint64_t len) const {
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

Hash128 GuestMemory::ContentHash() const {
  static const uint8_t kZeroPage[kPageSize] = {};
  const Hash128 zero_digest = HashBytes(kZeroPage);
  const uint64_t pages = size() / kPageSize;
  const uint8_t* base = mapping_.data();
  // pagemap: one 64-bit entry per virtual page; bit 63 present, bit 62
  // swapped. Without it (no procfs), every page is read.
  ScopedFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  constexpr uint64_t kBatch = 4096;
  std::vector<uint64_t> entries(kBatch);
  Hasher h;
  for (uint64_t first = 0; first < pages; first += kBatch) {
    const uint64_t n = std::min(kBatch, pages - first);
    bool have_map = false;
    if (pagemap.valid()) {
      const off_t off = static_cast<off_t>(
          (reinterpret_cast<uintptr_t>(base) / kPageSize + first) * 8);
      have_map = ::pread(pagemap.get(), entries.data(), n * 8, off) ==
                 static_cast<ssize_t>(n * 8);
    }
    for (uint64_t i = 0; i < n; ++i) {
      const bool untouched = have_map && (entries[i] & (3ull << 62)) == 0;
      h.Update(untouched
                   ? zero_digest
                   : HashBytes({base + (first + i) * kPageSize, kPageSize}));
    }
  }
  return h.Digest();
}

}  // namespace xv
