#include "memshare/page_merger.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace xv {

PageMerger::PageMerger(std::shared_ptr<MemoryBase> base, MergePolicy policy)
    : base_(std::move(base)),
      policy_(policy),
      streak_(base_->pages(), 0),
      streaking_(base_->pages()) {}

absl::StatusOr<MergeStats> PageMerger::MergeVerified(
    std::span<const ReplicaPages> replicas) {
  if (replicas.empty()) return MergeStats{};
  for (const ReplicaPages& r : replicas) {
    if (r.memory->base() != base_ || !r.memory->shares_base()) {
      return absl::InvalidArgumentError(
          "a replica to merge is not a view of this merger's base");
    }
  }
  const uint64_t pages = base_->pages();
  DirtyBitmap dirtied(pages);
  DirtyBitmap held(pages);
  for (const ReplicaPages& r : replicas) {
    dirtied.Merge(r.dirty->since_epoch());
    held.Merge(r.dirty->private_pages());
  }
  // Streaks: +1 for pages dirtied this epoch, reset for those that were
  // streaking and were not; O(dirty pages), not O(memory).
  streaking_.Subtract(dirtied);
  streaking_.ForEach([&](uint64_t p) { streak_[p] = 0; });
  dirtied.ForEach([&](uint64_t p) {
    streak_[p] = static_cast<uint8_t>(std::min(streak_[p] + 1, 255));
  });
  streaking_ = dirtied;
  MergeStats stats;
  DirtyBitmap merge(pages);
  const auto max_hot = static_cast<uint64_t>(policy_.max_hot_fraction *
                                             static_cast<double>(pages));
  held.ForEach([&](uint64_t p) {
    if (policy_.hot_epochs > 0 && streak_[p] >= policy_.hot_epochs &&
        stats.hot_pages < max_hot) {
      ++stats.hot_pages;
    } else {
      merge.Set(p);
    }
  });
  const std::vector<PageRun> runs = merge.Runs();
  // The first replica's view is the verified content; a run is contiguous
  // in its mapping, so it goes to the base in one write.
  const GuestMemory& source = *replicas.front().memory;
  for (const PageRun& run : runs) {
    auto data = source.Span(run.first * kPageSize, run.count * kPageSize);
    if (!data.ok()) return data.status();
    if (absl::Status s = base_->WritePages(run.first, *data); !s.ok()) {
      return s;
    }
    stats.merged_pages += run.count;
  }
  stats.runs = runs.size();
  for (const ReplicaPages& r : replicas) {
    if (absl::Status s = r.memory->DropPrivateCopies(runs); !s.ok()) return s;
    r.dirty->Dropped(runs);
    r.dirty->StartEpoch();
  }
  return stats;
}

}  // namespace xv
