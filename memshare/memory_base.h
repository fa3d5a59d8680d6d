// MemoryBase: the memfd that holds a guest's verified memory (DESIGN §5).
//
// Replicas map it MAP_PRIVATE (GuestMemory::MapReplica): they share its
// pages for reads and copy a page privately on their first write, so a
// faulty replica can never change what is in the base. Only the
// page-merging service writes here, and only verified content: a write is
// at once visible to every replica that holds no private copy of that page.
#ifndef EXTRAVIRT_MEMSHARE_MEMORY_BASE_H_
#define EXTRAVIRT_MEMSHARE_MEMORY_BASE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/scoped_fd.h"
#include "base/scoped_mapping.h"

namespace xv {

inline constexpr uint64_t kPageSize = 4096;

// A run of whole pages: [first, first + count).
struct PageRun {
  uint64_t first = 0;
  uint64_t count = 0;
  friend bool operator==(const PageRun&, const PageRun&) = default;
};

class MemoryBase {
  struct Key {
    explicit Key() = default;
  };

 public:
  // Use Create().
  MemoryBase(Key, ScopedFd fd, ScopedMapping shared, uint64_t size)
      : fd_(std::move(fd)),
        shared_(std::move(shared)),
        size_(size),
        written_((size / kPageSize + 63) / 64, 0) {}

  // A zero-filled base of `size` bytes (a positive multiple of kPageSize);
  // the host allocates a page only when something is written to it.
  static absl::StatusOr<std::shared_ptr<MemoryBase>> Create(uint64_t size);

  uint64_t size() const { return size_; }
  uint64_t pages() const { return size_ / kPageSize; }
  int fd() const { return fd_.get(); }

  // Writes whole pages of verified content at page `first`.
  absl::Status WritePages(uint64_t first, std::span<const uint8_t> data);
  // Reads the base's own content (not any replica's view).
  absl::Status Read(uint64_t gpa, std::span<uint8_t> out) const;

  // The runs of pages that have ever been written (SEEK_DATA/SEEK_HOLE);
  // every other page reads as zero without being allocated.
  absl::StatusOr<std::vector<PageRun>> DataRuns() const;

  // Frees the base's copy of those `runs` pages that were never written
  // here (so read as zero), for pages a replica has just copied privately.
  // Needed because a first write through a private mapping makes shmem
  // allocate the zero page in the file before copying it: without this a
  // lone replica would hold every page it wrote twice (ZeroPageReclaimer
  // calls it in the background, off the checkpoint pause). Pages that hold
  // merged content are never touched.
  absl::Status ReleaseUnwrittenPages(std::span<const PageRun> runs);

  // Bytes of host memory the base holds (its allocated pages).
  absl::StatusOr<uint64_t> ResidentBytes() const;

  // Whether views of this base run a ZeroPageReclaimer (Machine). A pair
  // of replicas that merges into the base may leave it off: each page they
  // write is merged into that same file page at the next verified
  // checkpoint, and punching it out in between costs the guest a refault
  // per page (ReplicaOptions::reclaim_zero_pages has the measured trade).
  bool reclaims_zero_pages() const { return reclaim_zero_pages_; }
  void set_reclaims_zero_pages(bool on) { reclaim_zero_pages_ = on; }

 private:
  ScopedFd fd_;
  bool reclaim_zero_pages_ = true;
  // A shared writable view, for merging: a memcpy per run instead of a
  // pwrite (measured faster for scattered pages).
  ScopedMapping shared_;
  uint64_t size_;
  // One bit per page: WritePages() stored content there. Replica threads
  // release pages while the merger may write others.
  absl::Mutex mu_;
  std::vector<uint64_t> written_ ABSL_GUARDED_BY(mu_);
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_MEMORY_BASE_H_
