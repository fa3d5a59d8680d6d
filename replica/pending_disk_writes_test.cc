#include "replica/pending_disk_writes.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace xv {
namespace {

std::vector<uint8_t> Sectors(const std::vector<uint8_t>& fills) {
  std::vector<uint8_t> data;
  for (uint8_t fill : fills) data.insert(data.end(), kSectorSize, fill);
  return data;
}

// The fill byte of each sector of `data` (each must be uniform).
std::vector<uint8_t> Fills(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> fills;
  for (size_t at = 0; at < data.size(); at += kSectorSize) {
    for (size_t i = 1; i < kSectorSize; ++i) {
      EXPECT_EQ(data[at + i], data[at]) << "sector " << at / kSectorSize;
    }
    fills.push_back(data[at]);
  }
  return fills;
}

std::vector<uint8_t> ReadThrough(const PendingDiskWrites& writes, uint64_t lba,
                                 uint32_t count, uint8_t backend_fill = 0) {
  std::vector<uint8_t> data(size_t{count} * kSectorSize, backend_fill);
  writes.Overlay(lba, count, data);
  return Fills(data);
}

TEST(PendingDiskWritesTest, EmptyOverlayLeavesBackendData) {
  PendingDiskWrites writes;
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(ReadThrough(writes, 0, 3, 0x11),
            (std::vector<uint8_t>{0x11, 0x11, 0x11}));
}

TEST(PendingDiskWritesTest, OverlayCopiesPendingSectorsInsideTheRangeOnly) {
  PendingDiskWrites writes;
  writes.Add(4, Sectors({0xa4}));
  writes.Add(5, Sectors({0xa5, 0xa6}));
  writes.Add(8, Sectors({0xa8}));
  EXPECT_EQ(writes.sectors(), 4u);
  EXPECT_EQ(writes.sector_writes(), 4u);
  EXPECT_EQ(ReadThrough(writes, 5, 3), (std::vector<uint8_t>{0xa5, 0xa6, 0}));
  EXPECT_EQ(ReadThrough(writes, 3, 7),
            (std::vector<uint8_t>{0, 0xa4, 0xa5, 0xa6, 0, 0xa8, 0}));
  EXPECT_EQ(ReadThrough(writes, 9, 2), (std::vector<uint8_t>{0, 0}));
}

TEST(PendingDiskWritesTest, OverlappingWritesNewestWinsUntilReleased) {
  PendingDiskWrites writes;
  writes.Add(10, Sectors({0x01, 0x01, 0x01}));  // first: 10..12
  writes.Add(11, Sectors({0x02}));              // second: 11
  writes.Add(12, Sectors({0x03, 0x03}));        // third: 12..13
  EXPECT_EQ(writes.sectors(), 4u);
  EXPECT_EQ(writes.sector_writes(), 6u);
  EXPECT_EQ(ReadThrough(writes, 10, 4),
            (std::vector<uint8_t>{0x01, 0x02, 0x03, 0x03}));

  // The back-end took the first write: sector 10 is now the back-end's,
  // 11 and 12 still show their newer pending content.
  writes.Released(10, 3);
  EXPECT_EQ(writes.sectors(), 3u);
  EXPECT_EQ(ReadThrough(writes, 10, 4, 0xee),
            (std::vector<uint8_t>{0xee, 0x02, 0x03, 0x03}));

  writes.Released(11, 1);
  EXPECT_EQ(ReadThrough(writes, 10, 4, 0xee),
            (std::vector<uint8_t>{0xee, 0xee, 0x03, 0x03}));
  writes.Released(12, 2);
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(writes.sector_writes(), 0u);
}

TEST(PendingDiskWritesTest, RewritingOneSectorKeepsItUntilTheLastRelease) {
  PendingDiskWrites writes;
  writes.Add(7, Sectors({0x01}));
  writes.Add(7, Sectors({0x02}));
  EXPECT_EQ(writes.sectors(), 1u);
  EXPECT_EQ(ReadThrough(writes, 7, 1), (std::vector<uint8_t>{0x02}));
  writes.Released(7, 1);
  EXPECT_EQ(ReadThrough(writes, 7, 1), (std::vector<uint8_t>{0x02}));
  writes.Released(7, 1);
  EXPECT_TRUE(writes.empty());
}

TEST(PendingDiskWritesTest, ReleasingSectorsWithNothingPendingIsIgnored) {
  PendingDiskWrites writes;
  writes.Add(3, Sectors({0x33}));
  writes.Released(0, 3);
  writes.Released(4, 10);
  EXPECT_EQ(ReadThrough(writes, 3, 1), (std::vector<uint8_t>{0x33}));
}

TEST(PendingDiskWritesTest, SnapshotCopiesTheRangeAndOutlivesReleases) {
  PendingDiskWrites writes;
  writes.Add(1, Sectors({0x01, 0x02, 0x03, 0x04}));
  PendingDiskWrites snapshot = writes.Snapshot(2, 2);
  EXPECT_EQ(snapshot.sectors(), 2u);
  writes.Released(1, 4);
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(ReadThrough(snapshot, 1, 4),
            (std::vector<uint8_t>{0, 0x02, 0x03, 0}));
}

TEST(PendingDiskWritesTest, ClearDropsEverything) {
  PendingDiskWrites writes;
  writes.Add(1, Sectors({0x01, 0x02}));
  writes.Clear();
  EXPECT_TRUE(writes.empty());
  EXPECT_EQ(ReadThrough(writes, 1, 2), (std::vector<uint8_t>{0, 0}));
}

}  // namespace
}  // namespace xv
