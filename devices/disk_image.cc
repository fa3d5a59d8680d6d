#include "devices/disk_image.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

// LBA28 addresses 2^28 sectors: 128 GiB.
constexpr uint64_t kMaxSectors = uint64_t{1} << 28;

}  // namespace

absl::StatusOr<DiskImage> DiskImage::Open(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("disk image %s: open read-write", path));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrFormat("disk image %s: fstat", path));
  }
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "disk image %s: not a regular file or block device", path));
  }
  // lseek also sizes block devices, whose st_size is 0.
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size < 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("disk image %s: lseek to end", path));
  }
  const uint64_t bytes = static_cast<uint64_t>(size);
  if (bytes == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("disk image %s: empty", path));
  }
  if (bytes % kSectorSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "disk image %s: size %d is not a whole number of %d-byte sectors", path,
        bytes, kSectorSize));
  }
  if (bytes / kSectorSize > kMaxSectors) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "disk image %s: %d sectors; LBA28 addresses at most %d (128 GiB)", path,
        bytes / kSectorSize, kMaxSectors));
  }
  return DiskImage(std::move(fd), path, bytes / kSectorSize);
}

namespace {

absl::Status CheckRange(const std::string& path, const char* op, uint64_t lba,
                        size_t bytes, uint64_t sectors) {
  if (bytes % kSectorSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "disk image %s: %s of %d bytes at LBA %d is not whole sectors", path,
        op, bytes, lba));
  }
  const uint64_t count = bytes / kSectorSize;
  if (lba > sectors || count > sectors - lba) {
    return absl::OutOfRangeError(absl::StrFormat(
        "disk image %s: %s of %d sectors at LBA %d is beyond its %d sectors",
        path, op, count, lba, sectors));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status DiskImage::Read(uint64_t lba, std::span<uint8_t> out) const {
  if (absl::Status s = CheckRange(path_, "read", lba, out.size(), sectors_);
      !s.ok()) {
    return s;
  }
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t offset = lba * kSectorSize + done;
    const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                              static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrFormat("disk image %s: pread of %d bytes at offset "
                                 "%d",
                                 path_, out.size() - done, offset));
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrFormat(
          "disk image %s: unexpected end of file at offset %d (was the image "
          "truncated?)",
          path_, offset));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status DiskImage::Write(uint64_t lba, std::span<const uint8_t> data) {
  if (absl::Status s = CheckRange(path_, "write", lba, data.size(), sectors_);
      !s.ok()) {
    return s;
  }
  size_t done = 0;
  while (done < data.size()) {
    const uint64_t offset = lba * kSectorSize + done;
    const ssize_t n = ::pwrite(fd_.get(), data.data() + done,
                               data.size() - done, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::ErrnoToStatus(
          n < 0 ? errno : EIO,
          absl::StrFormat("disk image %s: pwrite of %d bytes at offset %d",
                          path_, data.size() - done, offset));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status DiskImage::Flush() {
  if (::fdatasync(fd_.get()) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrFormat("disk image %s: fdatasync", path_));
  }
  return absl::OkStatus();
}

}  // namespace xv
