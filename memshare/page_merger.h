// PageMerger: the page-merging service (DESIGN §5). After a checkpoint was
// verified — every replica holds the same content — it folds the pages the
// replicas hold privately back into the shared base and drops their private
// copies, so N replicas cost little more than one.
//
// Hot pages, written in each of the last `hot_epochs` epochs, stay private:
// merging them would buy one COW fault per replica in the next epoch for
// memory that is private again a moment later. Their verified content is
// then the checkpoint's delta (CaptureCheckpoint copies private pages).
#ifndef EXTRAVIRT_MEMSHARE_PAGE_MERGER_H_
#define EXTRAVIRT_MEMSHARE_PAGE_MERGER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "memshare/dirty_tracker.h"
#include "memshare/guest_memory.h"
#include "memshare/memory_base.h"

namespace xv {

// Chosen by measurement (benchmarks/RESULTS.md, checkpoint_bench): with
// 1 % of a 256 MiB guest rewritten every epoch, keeping those pages private
// (hot_epochs=2) cut the pause from 9.5 to 7.5 ms; merging them buys back
// memory only until the guest writes them again, and costs its next write
// a COW copy (+1.9 us per page on PVM). The cap bounds what that costs in
// memory (up to three copies of the hot set: both replicas and the delta).
struct MergePolicy {
  // A page dirtied in each of the last `hot_epochs` epochs (this one
  // included) stays private; 0 merges every page.
  uint32_t hot_epochs = 2;
  // At most this fraction of guest pages stays private as hot; the rest
  // of the hot pages merge (lowest page numbers stay).
  double max_hot_fraction = 0.01;
};

// One replica's memory, as the merger sees it.
struct ReplicaPages {
  GuestMemory* memory;
  DirtyTracker* dirty;
};

struct MergeStats {
  uint64_t merged_pages = 0;
  uint64_t hot_pages = 0;  // left private
  uint64_t runs = 0;       // contiguous runs written and dropped
};

class PageMerger {
 public:
  PageMerger(std::shared_ptr<MemoryBase> base, MergePolicy policy);

  // Call only after verification found the replicas identical, with every
  // vCPU outside KVM_RUN and every replica's dirty pages just harvested
  // (Machine::SyncMemory). Writes the merged pages to the base from the
  // first replica, drops every replica's private copy of them, and starts a
  // new dirty epoch on each.
  absl::StatusOr<MergeStats> MergeVerified(
      std::span<const ReplicaPages> replicas);

  const MergePolicy& policy() const { return policy_; }

 private:
  std::shared_ptr<MemoryBase> base_;
  MergePolicy policy_;
  // Consecutive epochs, up to the last verified one, each page was dirtied.
  std::vector<uint8_t> streak_;
  DirtyBitmap streaking_;  // pages whose streak is not 0
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_PAGE_MERGER_H_
