#include "memshare/dirty_tracker.h"

namespace xv {

DirtyTracker::DirtyTracker(GuestMemory* memory)
    : memory_(memory),
      since_epoch_(memory->pages()),
      private_(memory->pages()) {}

void DirtyTracker::Harvest(DirtyBitmap& fresh) {
  memory_->TakeVmmWrites(fresh);
  since_epoch_.Merge(fresh);
  private_.Merge(fresh);
}

void DirtyTracker::Dropped(std::span<const PageRun> runs) {
  for (const PageRun& run : runs) {
    for (uint64_t p = run.first; p < run.first + run.count; ++p) {
      private_.Reset(p);
    }
  }
}

}  // namespace xv
