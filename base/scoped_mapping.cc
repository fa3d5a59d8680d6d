#include "base/scoped_mapping.h"

#include <sys/mman.h>

#include <cerrno>

#include "absl/strings/str_format.h"

namespace xv {

ScopedMapping& ScopedMapping::operator=(ScopedMapping&& other) noexcept {
  if (this != &other) {
    Reset();
    addr_ = std::exchange(other.addr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

absl::StatusOr<ScopedMapping> ScopedMapping::Map(size_t size, int prot,
                                                 int flags, int fd,
                                                 off_t offset,
                                                 std::string_view what) {
  void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (addr == MAP_FAILED) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("mmap of %s (%u bytes)", what, size));
  }
  return ScopedMapping(addr, size);
}

absl::StatusOr<ScopedMapping> ScopedMapping::Anonymous(size_t size,
                                                       std::string_view what) {
  return Map(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0,
             what);
}

void ScopedMapping::Reset() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace xv
