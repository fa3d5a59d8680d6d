// DiskImage: a raw disk image file, the back-end of the ATA disk.
#ifndef EXTRAVIRT_DEVICES_DISK_IMAGE_H_
#define EXTRAVIRT_DEVICES_DISK_IMAGE_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"

namespace xv {

inline constexpr size_t kSectorSize = 512;

class DiskImage {
 public:
  // Opens `path` read-write. Refuses a missing file, one that is empty, not
  // a whole number of sectors, or larger than LBA28 can address (128 GiB).
  static absl::StatusOr<DiskImage> Open(const std::string& path);

  uint64_t sectors() const { return sectors_; }
  const std::string& path() const { return path_; }

  // `out`/`data` hold whole sectors; the range must lie inside the image.
  absl::Status Read(uint64_t lba, std::span<uint8_t> out) const;
  absl::Status Write(uint64_t lba, std::span<const uint8_t> data);
  absl::Status Flush();

 private:
  DiskImage(ScopedFd fd, std::string path, uint64_t sectors)
      : fd_(std::move(fd)), path_(std::move(path)), sectors_(sectors) {}

  ScopedFd fd_;
  std::string path_;
  uint64_t sectors_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_DISK_IMAGE_H_
