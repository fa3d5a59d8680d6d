// ScopedMapping: sole owner of an mmap()ed region, unmapped on destruction.
#ifndef EXTRAVIRT_BASE_SCOPED_MAPPING_H_
#define EXTRAVIRT_BASE_SCOPED_MAPPING_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace xv {

class ScopedMapping {
 public:
  ScopedMapping() = default;
  ~ScopedMapping() { Reset(); }

  ScopedMapping(ScopedMapping&& other) noexcept
      : addr_(std::exchange(other.addr_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  ScopedMapping& operator=(ScopedMapping&& other) noexcept;
  ScopedMapping(const ScopedMapping&) = delete;
  ScopedMapping& operator=(const ScopedMapping&) = delete;

  // mmap(nullptr, size, prot, flags, fd, offset); `what` names the mapping
  // in the error ("guest memory", "kvm_run of vCPU 0").
  static absl::StatusOr<ScopedMapping> Map(size_t size, int prot, int flags,
                                           int fd, off_t offset,
                                           std::string_view what);
  // Anonymous private read-write memory, zero-filled.
  static absl::StatusOr<ScopedMapping> Anonymous(size_t size,
                                                 std::string_view what);

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }
  std::span<uint8_t> span() const { return {data(), size_}; }
  bool valid() const { return addr_ != nullptr; }

  void Reset();

 private:
  ScopedMapping(void* addr, size_t size) : addr_(addr), size_(size) {}

  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace xv

#endif  // EXTRAVIRT_BASE_SCOPED_MAPPING_H_
