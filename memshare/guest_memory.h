// GuestMemory: one replica's view of guest physical memory [0, size()),
// and the only way VMM code reads or writes guest memory.
//
// A replica's view (MapReplica) is a MAP_PRIVATE mapping of a MemoryBase:
// reads share the base's pages; the first write to a page (by the guest or
// by the VMM) copies it into this replica alone. A standalone machine
// (Create) has plain anonymous memory over an empty base: nothing to share,
// so none of the costs of sharing — a first write through a private view of
// a memfd hole makes shmem allocate a zero page in the file to copy from,
// and giving those back later costs the guest a refault per page
// (measured: memtouch mib=200 passes=20 ran 1.2 s anonymous, 2.4 s as a
// view with the zero pages reclaimed). Every VMM write (loader,
// device DMA, a restored checkpoint page, an injected fault) goes through
// Write()/MutableSpan() and is remembered here, because KVM's dirty log
// sees only the guest's own writes (DESIGN §5: nothing may be missed).
#ifndef EXTRAVIRT_MEMSHARE_GUEST_MEMORY_H_
#define EXTRAVIRT_MEMSHARE_GUEST_MEMORY_H_

#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/scoped_fd.h"
#include "base/scoped_mapping.h"
#include "memshare/dirty_bitmap.h"
#include "memshare/memory_base.h"

namespace xv {

// Told of every VMM write as it is made (a CPU backend that caches
// translated guest code drops it for the range).
class VmmWriteObserver {
 public:
  virtual ~VmmWriteObserver() = default;
  virtual void OnVmmWrite(uint64_t gpa, uint64_t len) = 0;
};

class GuestMemory {
 public:
  // Standalone: `size` bytes (a positive multiple of kPageSize) of
  // zero-filled anonymous memory, over an empty base (all zero), so a
  // checkpoint of it is base + every page written.
  static absl::StatusOr<GuestMemory> Create(uint64_t size);
  // A copy-on-write view of `base`.
  static absl::StatusOr<GuestMemory> MapReplica(
      std::shared_ptr<MemoryBase> base);

  uint64_t size() const { return mapping_.size(); }
  uint64_t pages() const { return mapping_.size() / kPageSize; }
  const std::shared_ptr<MemoryBase>& base() const { return base_; }
  // A view of base(): its private copies can be dropped to read the base.
  bool shares_base() const { return shares_base_; }

  // Bounds-checked views; the error names the guest-physical range. A
  // mutable span counts as a VMM write of every page it covers.
  absl::StatusOr<std::span<const uint8_t>> Span(uint64_t gpa,
                                                uint64_t len) const;
  absl::StatusOr<std::span<uint8_t>> MutableSpan(uint64_t gpa, uint64_t len);
  absl::Status Read(uint64_t gpa, std::span<uint8_t> out) const;
  absl::Status Write(uint64_t gpa, std::span<const uint8_t> data);

  // Page `page` as this replica sees it (no bounds check beyond pages()).
  const uint8_t* PageData(uint64_t page) const {
    return mapping_.data() + page * kPageSize;
  }

  // ORs the pages the VMM wrote since the last call into `into`, then
  // forgets them.
  void TakeVmmWrites(DirtyBitmap& into);
  // Receives every later VMM write; nullptr for none. Must outlive its use.
  void set_vmm_write_observer(VmmWriteObserver* observer) {
    observer_ = observer;
  }

  // Drops this replica's private copies of `runs` (MADV_DONTNEED, batched
  // through process_madvise where the kernel allows it for ourselves): the
  // pages read the base's content again and a later write copies afresh.
  // The vCPU must be outside KVM_RUN. Only for a view of the base.
  absl::Status DropPrivateCopies(std::span<const PageRun> runs);

  // The whole range, for registering the memory slot.
  std::span<uint8_t> host_span() { return mapping_.span(); }
  std::span<const uint8_t> host_span() const { return mapping_.span(); }

 private:
  GuestMemory(std::shared_ptr<MemoryBase> base, ScopedMapping mapping,
              bool shares_base)
      : base_(std::move(base)),
        mapping_(std::move(mapping)),
        vmm_written_(mapping_.size() / kPageSize),
        shares_base_(shares_base) {}
  absl::Status CheckRange(uint64_t gpa, uint64_t len) const;
  void NoteWrite(uint64_t gpa, uint64_t len);

  absl::Status DropOneByOne(std::span<const PageRun> runs);

  std::shared_ptr<MemoryBase> base_;
  ScopedMapping mapping_;
  DirtyBitmap vmm_written_;
  // pidfd of this process for process_madvise; invalid when unsupported.
  bool shares_base_;
  VmmWriteObserver* observer_ = nullptr;
  ScopedFd self_pidfd_;
  bool batched_drop_unsupported_ = false;
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_GUEST_MEMORY_H_
