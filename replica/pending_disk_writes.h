// PendingDiskWrites: one replica's disk writes that the output gate has not
// released to the disk back-end yet (DESIGN §4: "a disk back-end holds
// unverified writes in a pending buffer").
//
// A disk write is an output, so the back-end receives it only once both
// replicas agree on it; until then the guest must still read back what it
// wrote. This is the overlay that makes it do so: data read from the
// back-end, overlaid with the replica's newer pending writes, is what the
// guest would have read from a disk that took every write at once.
//
// Each sector keeps the content of its newest pending write and the number
// of pending writes that cover it. The gate releases writes in the order
// they were submitted, so Released() always retires the oldest write of
// each sector it names: while any write of a sector is pending, the newest
// content stays; when the last one is released the back-end holds it and
// the sector is dropped.
//
// Not thread-safe: OutputGate keeps one per replica slot under its own lock
// (see OutputGate::PendingWritesSnapshot).
#ifndef EXTRAVIRT_REPLICA_PENDING_DISK_WRITES_H_
#define EXTRAVIRT_REPLICA_PENDING_DISK_WRITES_H_

#include <array>
#include <cstdint>
#include <map>
#include <span>

#include "devices/disk_image.h"

namespace xv {

class PendingDiskWrites {
 public:
  // A write of whole sectors (`sectors.size()` a positive multiple of
  // kSectorSize) starting at `lba`. Newer than every write added before.
  void Add(uint64_t lba, std::span<const uint8_t> sectors);

  // Copies the newest pending content of every sector in [lba, lba + count)
  // that has some over `data`, which holds those `count` sectors as read
  // from the back-end (`data.size() == count * kSectorSize`).
  void Overlay(uint64_t lba, uint32_t count, std::span<uint8_t> data) const;

  // The back-end now holds the oldest pending write of each sector in
  // [lba, lba + count). Sectors with nothing pending are left alone.
  void Released(uint64_t lba, uint32_t count);

  // The pending sectors inside [lba, lba + count), for reading through the
  // overlay without holding the owner's lock: take the snapshot first, then
  // read the back-end, then Overlay() with the snapshot. A write released in
  // between is then in the snapshot or already in the back-end, never lost.
  PendingDiskWrites Snapshot(uint64_t lba, uint32_t count) const;

  void Clear() { sectors_.clear(); }
  bool empty() const { return sectors_.empty(); }
  // Distinct sectors that have pending content.
  size_t sectors() const { return sectors_.size(); }
  // Pending sector writes, counting every write of a sector.
  uint64_t sector_writes() const;

 private:
  struct Sector {
    std::array<uint8_t, kSectorSize> data{};
    uint32_t writes = 0;  // pending writes covering this sector (> 0)
  };

  std::map<uint64_t, Sector> sectors_;
};

}  // namespace xv

#endif  // EXTRAVIRT_REPLICA_PENDING_DISK_WRITES_H_
