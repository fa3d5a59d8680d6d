// DirtyBitmap: one bit per guest page, in the layout KVM_GET_DIRTY_LOG
// fills (bit i of word i/64 is page i), so a harvested log is merged with a
// word-wise OR.
#ifndef EXTRAVIRT_MEMSHARE_DIRTY_BITMAP_H_
#define EXTRAVIRT_MEMSHARE_DIRTY_BITMAP_H_

#include <bit>
#include <cstdint>
#include <span>
#include <vector>

#include "memshare/memory_base.h"

namespace xv {

class DirtyBitmap {
 public:
  DirtyBitmap() = default;
  explicit DirtyBitmap(uint64_t pages)
      : pages_(pages), words_((pages + 63) / 64, 0) {}

  uint64_t pages() const { return pages_; }
  void Set(uint64_t page) { words_[page / 64] |= uint64_t{1} << (page % 64); }
  void SetRange(uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count; ++p) Set(p);
  }
  void Reset(uint64_t page) {
    words_[page / 64] &= ~(uint64_t{1} << (page % 64));
  }
  bool Test(uint64_t page) const {
    return (words_[page / 64] >> (page % 64)) & 1;
  }
  void Clear() { std::fill(words_.begin(), words_.end(), 0); }
  // this |= other (same size).
  void Merge(const DirtyBitmap& other) { Merge(other.words_); }
  void Merge(std::span<const uint64_t> words) {
    for (size_t i = 0; i < words_.size() && i < words.size(); ++i) {
      words_[i] |= words[i];
    }
  }
  // this &= ~other.
  void Subtract(const DirtyBitmap& other) {
    for (size_t i = 0; i < words_.size(); ++i) words_[i] &= ~other.words_[i];
  }
  uint64_t Count() const {
    uint64_t n = 0;
    for (uint64_t w : words_) n += static_cast<uint64_t>(std::popcount(w));
    return n;
  }
  bool Empty() const {
    for (uint64_t w : words_) {
      if (w != 0) return false;
    }
    return true;
  }
  // Calls fn(page) for every set page, in ascending order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t i = 0; i < words_.size(); ++i) {
      for (uint64_t w = words_[i]; w != 0; w &= w - 1) {
        fn(i * 64 + static_cast<uint64_t>(std::countr_zero(w)));
      }
    }
  }
  // The set pages as maximal runs, ascending.
  std::vector<PageRun> Runs() const {
    std::vector<PageRun> runs;
    ForEach([&](uint64_t p) {
      if (!runs.empty() && runs.back().first + runs.back().count == p) {
        ++runs.back().count;
      } else {
        runs.push_back({p, 1});
      }
    });
    return runs;
  }
  std::span<uint64_t> words() { return words_; }
  std::span<const uint64_t> words() const { return words_; }

 private:
  uint64_t pages_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace xv

#endif  // EXTRAVIRT_MEMSHARE_DIRTY_BITMAP_H_
