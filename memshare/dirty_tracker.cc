#include "memshare/dirty_tracker.h"

namespace xv {

DirtyTracker::DirtyTracker(Vm* vm, uint32_t slot, GuestMemory* memory)
    : vm_(vm),
      slot_(slot),
      memory_(memory),
      since_epoch_(memory->pages()),
      private_(memory->pages()) {}

absl::Status DirtyTracker::Harvest(DirtyBitmap& fresh) {
  if (fresh.pages() != memory_->pages()) fresh = DirtyBitmap(memory_->pages());
  fresh.Clear();
  if (absl::Status s = vm_->GetDirtyLog(slot_, fresh.words()); !s.ok()) {
    return s;
  }
  memory_->TakeVmmWrites(fresh);
  since_epoch_.Merge(fresh);
  private_.Merge(fresh);
  return absl::OkStatus();
}

void DirtyTracker::Dropped(std::span<const PageRun> runs) {
  for (const PageRun& run : runs) {
    for (uint64_t p = run.first; p < run.first + run.count; ++p) {
      private_.Reset(p);
    }
  }
}

}  // namespace xv
