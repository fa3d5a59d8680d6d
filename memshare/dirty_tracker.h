// DirtyTracker: which pages of one replica changed, from the CPU's record of
// the guest's writes (KVM's dirty log, say) plus GuestMemory's record of the
// VMM's own writes. Neither alone is complete; together nothing is missed
// (DESIGN §5).
#ifndef EXTRAVIRT_MEMSHARE_DIRTY_TRACKER_H_
#define EXTRAVIRT_MEMSHARE_DIRTY_TRACKER_H_

#include <cstdint>
#include <span>

#include "memshare/dirty_bitmap.h"
#include "memshare/guest_memory.h"

namespace xv {

class DirtyTracker {
 public:
  DirtyTracker() = default;
  // Tracks `memory`, which must outlive the tracker's use.
  explicit DirtyTracker(GuestMemory* memory);

  // `fresh` holds the pages the guest wrote since the last harvest (from
  // the CPU); adds the VMM's writes to it, and all of them to since_epoch()
  // and private_pages().
  void Harvest(DirtyBitmap& fresh);

  // Pages written since the last StartEpoch(): what the next verification
  // compares and the next merge folds.
  const DirtyBitmap& since_epoch() const { return since_epoch_; }
  void StartEpoch() { since_epoch_.Clear(); }

  // Pages this replica holds a private copy of (written since the mapping
  // was made or since they were dropped): its difference from the base.
  const DirtyBitmap& private_pages() const { return private_; }
  // After GuestMemory::DropPrivateCopies(runs).
  void Dropped(std::span<const PageRun> runs);

 private:
  GuestMemory* memory_ = nullptr;
  DirtyBitmap since_epoch_;
  DirtyBitmap private_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_DIRTY_TRACKER_H_
