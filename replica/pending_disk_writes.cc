#include "replica/pending_disk_writes.h"

#include <algorithm>

#include "base/check.h"

namespace xv {

void PendingDiskWrites::Add(uint64_t lba, std::span<const uint8_t> sectors) {
  XV_CHECK(!sectors.empty() && sectors.size() % kSectorSize == 0,
           "PendingDiskWrites::Add takes whole sectors");
  const uint64_t n = sectors.size() / kSectorSize;
  for (uint64_t i = 0; i < n; ++i) {
    Sector& sector = sectors_[lba + i];
    std::copy_n(sectors.begin() + static_cast<ptrdiff_t>(i * kSectorSize),
                kSectorSize, sector.data.begin());
    ++sector.writes;
  }
}

void PendingDiskWrites::Overlay(uint64_t lba, uint32_t count,
                                std::span<uint8_t> data) const {
  XV_CHECK(data.size() == uint64_t{count} * kSectorSize,
           "PendingDiskWrites::Overlay: data must hold `count` sectors");
  for (auto it = sectors_.lower_bound(lba);
       it != sectors_.end() && it->first - lba < count; ++it) {
    std::copy(
        it->second.data.begin(), it->second.data.end(),
        data.begin() + static_cast<ptrdiff_t>((it->first - lba) * kSectorSize));
  }
}

void PendingDiskWrites::Released(uint64_t lba, uint32_t count) {
  auto it = sectors_.lower_bound(lba);
  while (it != sectors_.end() && it->first - lba < count) {
    if (--it->second.writes == 0) {
      it = sectors_.erase(it);
    } else {
      ++it;
    }
  }
}

PendingDiskWrites PendingDiskWrites::Snapshot(uint64_t lba,
                                              uint32_t count) const {
  PendingDiskWrites copy;
  for (auto it = sectors_.lower_bound(lba);
       it != sectors_.end() && it->first - lba < count; ++it) {
    copy.sectors_.insert(copy.sectors_.end(), *it);
  }
  return copy;
}

uint64_t PendingDiskWrites::sector_writes() const {
  uint64_t n = 0;
  for (const auto& entry : sectors_) n += entry.second.writes;
  return n;
}

}  // namespace xv
