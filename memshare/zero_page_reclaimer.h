// ZeroPageReclaimer: gives back the zero pages shmem allocates in a base
// when a replica first writes a page the base holds no data for.
//
// A first write through a MAP_PRIVATE view of a memfd hole makes shmem
// allocate a zero page in the file and then copy it into the replica, so
// without this a replica costs every page it writes twice (invisible in its
// RSS: the file pages are mapped by nobody). This gives them back from a
// background thread, reading which pages the replica has copied from
// /proc/self/pagemap (no dirty-log harvest, nothing in a checkpoint's
// pause). Punching a page makes KVM drop its mapping of it, so the guest
// refaults each page once: Machine runs this only for views of a base.
#ifndef EXTRAVIRT_MEMSHARE_ZERO_PAGE_RECLAIMER_H_
#define EXTRAVIRT_MEMSHARE_ZERO_PAGE_RECLAIMER_H_

#include <chrono>
#include <cstdint>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "base/scoped_fd.h"
#include "memshare/dirty_bitmap.h"
#include "memshare/guest_memory.h"

namespace xv {

class ZeroPageReclaimer {
 public:
  // Starts scanning `memory` (which must outlive this) every `period`.
  ZeroPageReclaimer(const GuestMemory* memory,
                    std::chrono::milliseconds period);
  ~ZeroPageReclaimer();  // stops and joins the thread
  ZeroPageReclaimer(const ZeroPageReclaimer&) = delete;
  ZeroPageReclaimer& operator=(const ZeroPageReclaimer&) = delete;

  // One scan, on the calling thread: releases the base's copy of every
  // page the replica now holds privately and the base never took content
  // for. Returns the number of pages newly seen private.
  absl::StatusOr<uint64_t> ScanOnce();

 private:
  void Loop(std::chrono::milliseconds period);

  const GuestMemory* memory_;
  ScopedFd pagemap_;
  DirtyBitmap released_;  // pages already handled
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_ZERO_PAGE_RECLAIMER_H_
