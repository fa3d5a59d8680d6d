// PageHashes: the XXH3-128 digest of every 4 KiB page of one replica's
// memory, refreshed from dirty pages only, and a root digest over all of
// them for the state hash (DESIGN §4).
//
// The root is two-level: pages are grouped by kPagesPerGroup, a group's
// digest covers its page digests, the root covers the group digests. A
// checkpoint that dirtied d pages rehashes d pages, at most d groups of
// 1 KiB and one 16 KiB-per-GiB list of group digests, instead of all of
// memory.
#ifndef EXTRAVIRT_MEMSHARE_PAGE_HASHES_H_
#define EXTRAVIRT_MEMSHARE_PAGE_HASHES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "base/hash128.h"
#include "memshare/dirty_bitmap.h"
#include "memshare/guest_memory.h"
#include "memshare/memory_base.h"

namespace xv {

inline constexpr uint64_t kPagesPerGroup = 64;

// XXH3-128 of one 4 KiB page.
Hash128 HashPage(const uint8_t* page);
// The digest of a page of zeros.
const Hash128& ZeroPageHash();

class PageHashes {
 public:
  PageHashes() = default;
  // `pages` pages of zeros.
  explicit PageHashes(uint64_t pages);
  // The base's own content: pages it holds are hashed, holes are zero.
  static absl::StatusOr<PageHashes> OfBase(const MemoryBase& base);

  uint64_t pages() const { return pages_.size(); }
  const Hash128& page(uint64_t p) const { return pages_[p]; }
  bool IsZero(uint64_t p) const { return pages_[p] == ZeroPageHash(); }

  // Rehashes the `dirty` pages as `memory` holds them now.
  void Rehash(const GuestMemory& memory, const DirtyBitmap& dirty);
  void Set(uint64_t p, const Hash128& digest);

  // Digest of the whole memory; equal contents, equal root.
  Hash128 Root() const;

 private:
  void MarkStale(uint64_t p) { stale_groups_[p / kPagesPerGroup] = true; }

  std::vector<Hash128> pages_;
  // Group digests are refreshed lazily by Root().
  mutable std::vector<Hash128> groups_;
  mutable std::vector<bool> stale_groups_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_PAGE_HASHES_H_
