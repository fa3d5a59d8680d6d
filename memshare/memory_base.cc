#include "memshare/memory_base.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

absl::Status ErrnoError(std::string_view what) {
  return absl::InternalError(
      absl::StrFormat("%s: %s", what, std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::shared_ptr<MemoryBase>> MemoryBase::Create(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("guest memory size %d is not a positive multiple of %d",
                        size, kPageSize));
  }
  ScopedFd fd(::memfd_create("xvirt-guest-base", MFD_CLOEXEC));
  if (!fd.valid()) return ErrnoError("memfd_create(guest memory base)");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return ErrnoError(
        absl::StrFormat("ftruncate(guest memory base, %d)", size));
  }
  auto shared = ScopedMapping::Map(size, PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_NORESERVE, fd.get(), 0,
                                   "guest memory base (merging view)");
  if (!shared.ok()) return shared.status();
  return std::make_shared<MemoryBase>(Key(), std::move(fd), std::move(*shared),
                                      size);
}

absl::Status MemoryBase::WritePages(uint64_t first,
                                    std::span<const uint8_t> data) {
  if (data.size() % kPageSize != 0 || first > pages() ||
      data.size() / kPageSize > pages() - first) {
    return absl::OutOfRangeError(absl::StrFormat(
        "base write of %d bytes at page %d: not whole pages inside %d pages",
        data.size(), first, pages()));
  }
  {
    absl::MutexLock lock(&mu_);
    for (uint64_t p = first; p < first + data.size() / kPageSize; ++p) {
      written_[p / 64] |= uint64_t{1} << (p % 64);
    }
  }
  std::memcpy(shared_.data() + first * kPageSize, data.data(), data.size());
  return absl::OkStatus();
}

absl::Status MemoryBase::Read(uint64_t gpa, std::span<uint8_t> out) const {
  if (gpa > size_ || out.size() > size_ - gpa) {
    return absl::OutOfRangeError(absl::StrFormat(
        "base read [0x%x, 0x%x) is outside guest memory (0x%x bytes)", gpa,
        gpa + out.size(), size_));
  }
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                        static_cast<off_t>(gpa + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return ErrnoError(
          absl::StrFormat("pread(guest memory base, 0x%x)", gpa + done));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PageRun>> MemoryBase::DataRuns() const {
  std::vector<PageRun> runs;
  off_t pos = 0;
  const off_t end = static_cast<off_t>(size_);
  while (pos < end) {
    off_t data = ::lseek(fd_.get(), pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only holes from here on
      return ErrnoError("lseek(guest memory base, SEEK_DATA)");
    }
    off_t hole = ::lseek(fd_.get(), data, SEEK_HOLE);
    if (hole < 0) return ErrnoError("lseek(guest memory base, SEEK_HOLE)");
    uint64_t first = static_cast<uint64_t>(data) / kPageSize;
    uint64_t last = (static_cast<uint64_t>(hole) + kPageSize - 1) / kPageSize;
    runs.push_back({first, last - first});
    pos = hole;
  }
  return runs;
}

absl::Status MemoryBase::ReleaseUnwrittenPages(std::span<const PageRun> runs) {
  absl::MutexLock lock(&mu_);
  for (const PageRun& run : runs) {
    // Punch maximal sub-runs of never-written pages.
    uint64_t p = run.first;
    const uint64_t end = std::min(run.first + run.count, pages());
    while (p < end) {
      while (p < end && ((written_[p / 64] >> (p % 64)) & 1)) ++p;
      uint64_t start = p;
      while (p < end && !((written_[p / 64] >> (p % 64)) & 1)) ++p;
      if (p == start) continue;
      if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                      static_cast<off_t>(start * kPageSize),
                      static_cast<off_t>((p - start) * kPageSize)) != 0) {
        return ErrnoError(absl::StrFormat(
            "fallocate(guest memory base, punch pages [%d, %d))", start, p));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> MemoryBase::ResidentBytes() const {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0)
    return ErrnoError("fstat(guest memory base)");
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace xv
