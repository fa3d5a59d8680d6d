// DirtyTracker: which pages of one replica changed, from KVM's dirty log
// (the guest's writes) plus GuestMemory's record of the VMM's own writes.
// Neither alone is complete; together nothing is missed (DESIGN §5).
#ifndef EXTRAVIRT_MEMSHARE_DIRTY_TRACKER_H_
#define EXTRAVIRT_MEMSHARE_DIRTY_TRACKER_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "kvm/vm.h"
#include "memshare/dirty_bitmap.h"
#include "memshare/guest_memory.h"

namespace xv {

class DirtyTracker {
 public:
  DirtyTracker() = default;
  // Tracks `memory`, registered in `vm` as `slot` with
  // KVM_MEM_LOG_DIRTY_PAGES. Both must outlive the tracker's use.
  DirtyTracker(Vm* vm, uint32_t slot, GuestMemory* memory);

  // The pages written since the last Harvest() (cleared first), which are
  // also added to since_epoch() and private_pages(). The vCPU must be
  // outside KVM_RUN for the answer to be exact.
  absl::Status Harvest(DirtyBitmap& fresh);

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
  Vm* vm_ = nullptr;
  uint32_t slot_ = 0;
  GuestMemory* memory_ = nullptr;
  DirtyBitmap since_epoch_;
  DirtyBitmap private_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_DIRTY_TRACKER_H_
