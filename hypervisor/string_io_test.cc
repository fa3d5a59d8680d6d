// InsBatchElements: the batches a `rep ins` makes, pinned with examples —
// including the one where the rule compares bytes with elements, as KVM
// does, which a "fix" would silently change on one backend only.
#include "hypervisor/string_io.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace xv {
namespace {

constexpr uint64_t kPage = 4096;

// The batches of a whole `rep ins` going up from `rdi`.
std::vector<uint64_t> Batches(uint64_t remaining, uint64_t rdi,
                              uint8_t element_size) {
  std::vector<uint64_t> batches;
  while (remaining > 0) {
    const uint64_t n = InsBatchElements(remaining, rdi, false, element_size);
    batches.push_back(n);
    remaining -= n;
    rdi += n * element_size;
  }
  return batches;
}

TEST(InsBatchElementsTest, ComparesBytesToThePageEndWithElements) {
  // 100 bytes left in the page hold 25 dwords, yet the batch is 100
  // elements: the minimum takes the byte count as is.
  EXPECT_EQ(InsBatchElements(3000, 5 * kPage - 100, false, 4), 100u);
}

TEST(InsBatchElementsTest, AWholeRepInsFromNearAPageEnd) {
  // 100, then 1024 / 4 = 256 at a time (each later start leaves more than
  // 256 bytes in its page), then the remainder: 3000 = 100 + 11 * 256 + 84.
  std::vector<uint64_t> expected = {100};
  expected.insert(expected.end(), 11, 256);
  expected.push_back(84);
  EXPECT_EQ(Batches(3000, 5 * kPage - 100, 4), expected);
}

TEST(InsBatchElementsTest, ReadAheadIsAKilobyte) {
  EXPECT_EQ(InsBatchElements(5000, 0x10000, false, 1), 1024u);
  EXPECT_EQ(InsBatchElements(5000, 0x10000, false, 2), 512u);
  EXPECT_EQ(InsBatchElements(5000, 0x10000, false, 4), 256u);
}

TEST(InsBatchElementsTest, RemainingSmallerThanEverything) {
  EXPECT_EQ(InsBatchElements(3, 0x10000, false, 1), 3u);
  EXPECT_EQ(InsBatchElements(3, 0x10000 + 2048, true, 4), 3u);
  EXPECT_EQ(InsBatchElements(1, 5 * kPage - 1, false, 4), 1u);
}

TEST(InsBatchElementsTest, DirectionFlagCountsFromThePageStart) {
  // Going down, what is left of the page is the offset of RDI in it.
  EXPECT_EQ(InsBatchElements(3000, 0x10000 + 100, true, 4), 100u);
  EXPECT_EQ(InsBatchElements(3000, 0x10000 + 100, false, 4), 256u);
  EXPECT_EQ(InsBatchElements(3000, 0x10000 + 4000, true, 1), 1024u);
  EXPECT_EQ(InsBatchElements(3000, 0x10000 + 4000, false, 1), 96u);
}

TEST(InsBatchElementsTest, AtLeastOneElement) {
  // Offset 0 going down leaves 0 bytes by the formula; the batch still
  // moves the element at RDI.
  EXPECT_EQ(InsBatchElements(3000, 0x10000, true, 4), 1u);
  EXPECT_EQ(InsBatchElements(3000, 0, true, 1), 1u);
}

TEST(InsBatchElementsTest, LastBytesOfAPage) {
  EXPECT_EQ(InsBatchElements(3000, 0x10000 + kPage - 1, false, 1), 1u);
  // Going up from a page start: a full page, capped by the read-ahead.
  EXPECT_EQ(InsBatchElements(3000, 0x10000, false, 1), 1024u);
}

}  // namespace
}  // namespace xv
