#include "memshare/page_hashes.h"

#include <sys/mman.h>

#include <array>

#include "base/scoped_mapping.h"

namespace xv {

Hash128 HashPage(const uint8_t* page) { return HashBytes({page, kPageSize}); }

const Hash128& ZeroPageHash() {
  static const Hash128 zero = [] {
    static const std::array<uint8_t, kPageSize> zeros{};
    return HashPage(zeros.data());
  }();
  return zero;
}

namespace {

Hash128 GroupDigest(const Hash128* first, uint64_t count) {
  return HashBytes(
      {reinterpret_cast<const uint8_t*>(first), count * sizeof(Hash128)});
}

}  // namespace

PageHashes::PageHashes(uint64_t pages)
    : pages_(pages, ZeroPageHash()),
      groups_((pages + kPagesPerGroup - 1) / kPagesPerGroup),
      stale_groups_(groups_.size(), true) {}

absl::StatusOr<PageHashes> PageHashes::OfBase(const MemoryBase& base) {
  PageHashes hashes(base.pages());
  auto runs = base.DataRuns();
  if (!runs.ok()) return runs.status();
  if (runs->empty()) return hashes;
  // A shared read-only view; reads of data pages allocate nothing.
  auto view = ScopedMapping::Map(base.size(), PROT_READ, MAP_SHARED, base.fd(),
                                 0, "guest memory base (hashing)");
  if (!view.ok()) return view.status();
  for (const PageRun& run : *runs) {
    for (uint64_t p = run.first; p < run.first + run.count; ++p) {
      hashes.Set(p, HashPage(view->data() + p * kPageSize));
    }
  }
  return hashes;
}

void PageHashes::Rehash(const GuestMemory& memory, const DirtyBitmap& dirty) {
  dirty.ForEach([&](uint64_t p) { Set(p, HashPage(memory.PageData(p))); });
}

void PageHashes::Set(uint64_t p, const Hash128& digest) {
  pages_[p] = digest;
  MarkStale(p);
}

Hash128 PageHashes::Root() const {
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (!stale_groups_[g]) continue;
    uint64_t first = g * kPagesPerGroup;
    groups_[g] =
        GroupDigest(&pages_[first],
                    std::min<uint64_t>(kPagesPerGroup, pages_.size() - first));
    stale_groups_[g] = false;
  }
  Hasher h;
  h.Update(std::string_view("xvirt-memory-v2"));
  h.UpdateU64(pages_.size());
  h.Update({reinterpret_cast<const uint8_t*>(groups_.data()),
            groups_.size() * sizeof(Hash128)});
  return h.Digest();
}

}  // namespace xv
