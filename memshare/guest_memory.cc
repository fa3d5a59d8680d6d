#include "memshare/guest_memory.h"

#include <errno.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"

namespace xv {

absl::StatusOr<GuestMemory> GuestMemory::Create(uint64_t size) {
  auto base = MemoryBase::Create(size);
  if (!base.ok()) return base.status();
  auto mapping = ScopedMapping::Map(size, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                                    -1, 0, "guest memory");
  if (!mapping.ok()) return mapping.status();
  return GuestMemory(std::move(*base), std::move(*mapping),
                     /*shares_base=*/false);
}

absl::StatusOr<GuestMemory> GuestMemory::MapReplica(
    std::shared_ptr<MemoryBase> base) {
  auto mapping = ScopedMapping::Map(base->size(), PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_NORESERVE, base->fd(), 0,
                                    "guest memory (private view of the base)");
  if (!mapping.ok()) return mapping.status();
  return GuestMemory(std::move(base), std::move(*mapping),
                     /*shares_base=*/true);
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

void GuestMemory::NoteWrite(uint64_t gpa, uint64_t len) {
  if (len == 0) return;
  uint64_t first = gpa / kPageSize;
  vmm_written_.SetRange(first, (gpa + len - 1) / kPageSize - first + 1);
  if (observer_ != nullptr) observer_->OnVmmWrite(gpa, len);
}

absl::StatusOr<std::span<const uint8_t>> GuestMemory::Span(uint64_t gpa,
                                                           uint64_t len) const {
  if (absl::Status s = CheckRange(gpa, len); !s.ok()) return s;
  return std::span<const uint8_t>(mapping_.data() + gpa, len);
}

absl::StatusOr<std::span<uint8_t>> GuestMemory::MutableSpan(uint64_t gpa,
                                                            uint64_t len) {
  if (absl::Status s = CheckRange(gpa, len); !s.ok()) return s;
  NoteWrite(gpa, len);
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

void GuestMemory::TakeVmmWrites(DirtyBitmap& into) {
  into.Merge(vmm_written_);
  vmm_written_.Clear();
}

absl::Status GuestMemory::DropOneByOne(std::span<const PageRun> runs) {
  for (const PageRun& run : runs) {
    if (::madvise(mapping_.data() + run.first * kPageSize,
                  run.count * kPageSize, MADV_DONTNEED) != 0) {
      return absl::InternalError(absl::StrFormat(
          "madvise(MADV_DONTNEED, pages [%d, %d)): %s", run.first,
          run.first + run.count, std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status GuestMemory::DropPrivateCopies(std::span<const PageRun> runs) {
  if (!shares_base_) {
    // Dropping anonymous pages would zero them, not read the base.
    return absl::FailedPreconditionError(
        "this guest memory is standalone, not a view of its base: its pages "
        "cannot be merged (create the machine on a MemoryBase)");
  }
  for (const PageRun& run : runs) {
    if (run.first > pages() || run.count > pages() - run.first) {
      return absl::OutOfRangeError(
          absl::StrFormat("pages [%d, %d) are outside guest memory (%d pages)",
                          run.first, run.first + run.count, pages()));
    }
  }
  // Scattered pages make one madvise call per page: its fixed cost (and
  // KVM's invalidation per call) dominated a merge's pause. One
  // process_madvise call takes up to IOV_MAX runs.
  if (!batched_drop_unsupported_ && !self_pidfd_.valid()) {
    self_pidfd_ =
        ScopedFd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
    batched_drop_unsupported_ = !self_pidfd_.valid();
  }
  if (batched_drop_unsupported_) return DropOneByOne(runs);
  std::vector<iovec> iov;
  for (size_t done = 0; done < runs.size();) {
    const size_t n = std::min<size_t>(IOV_MAX, runs.size() - done);
    iov.clear();
    uint64_t bytes = 0;
    for (size_t i = done; i < done + n; ++i) {
      iov.push_back({mapping_.data() + runs[i].first * kPageSize,
                     runs[i].count * kPageSize});
      bytes += runs[i].count * kPageSize;
    }
    const long got = ::syscall(SYS_process_madvise, self_pidfd_.get(),
                               iov.data(), iov.size(), MADV_DONTNEED, 0);
    if (got < 0 && (errno == EINVAL || errno == ENOSYS || errno == EPERM)) {
      // An older kernel: process_madvise without MADV_DONTNEED.
      batched_drop_unsupported_ = true;
      return DropOneByOne(runs.subspan(done));
    }
    if (got != static_cast<long>(bytes)) {
      return absl::InternalError(absl::StrFormat(
          "process_madvise(MADV_DONTNEED, %d runs from page %d): %s", n,
          runs[done].first, got < 0 ? std::strerror(errno) : "partial"));
    }
    done += n;
  }
  return absl::OkStatus();
}

}  // namespace xv
