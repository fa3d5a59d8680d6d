#include "hypervisor/page_walk.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kCr0Pg;
using x86::kCr4La57;
using x86::kCr4Pae;
using x86::kCr4Pse;
using x86::kEferLma;

constexpr uint64_t kPresent = 1;
constexpr uint64_t kLargePage = 1ull << 7;
// Bits 51:12 of a 64-bit entry.
constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;

absl::StatusOr<uint64_t> ReadEntry(const GuestMemory& memory, uint64_t gpa,
                                   size_t size) {
  uint64_t value = 0;
  if (gpa + size > memory.size() || gpa + size < gpa) {
    return absl::OutOfRangeError(absl::StrFormat(
        "page table entry at gpa 0x%x is outside guest memory", gpa));
  }
  if (absl::Status s =
          memory.Read(gpa, {reinterpret_cast<uint8_t*>(&value), size});
      !s.ok()) {
    return s;
  }
  return value;
}

absl::Status NotMapped(uint64_t linear, const char* level) {
  return absl::NotFoundError(absl::StrFormat(
      "linear address 0x%x is not mapped (%s entry not present)", linear,
      level));
}

absl::StatusOr<uint64_t> Walk32(const PagingState& p, const GuestMemory& m,
                                uint64_t linear) {
  const uint64_t pde_gpa = (p.cr3 & 0xfffff000) + ((linear >> 22) & 0x3ff) * 4;
  auto pde = ReadEntry(m, pde_gpa, 4);
  if (!pde.ok()) return pde.status();
  if (!(*pde & kPresent)) return NotMapped(linear, "page directory");
  if ((*pde & kLargePage) && (p.cr4 & kCr4Pse)) {
    return (*pde & 0xffc00000) | (linear & 0x3fffff);
  }
  const uint64_t pte_gpa = (*pde & 0xfffff000) + ((linear >> 12) & 0x3ff) * 4;
  auto pte = ReadEntry(m, pte_gpa, 4);
  if (!pte.ok()) return pte.status();
  if (!(*pte & kPresent)) return NotMapped(linear, "page table");
  return (*pte & 0xfffff000) | (linear & 0xfff);
}

// PAE and 4-level paging share the 64-bit entry format; they differ in
// where the walk starts.
absl::StatusOr<uint64_t> Walk64(const PagingState& p, const GuestMemory& m,
                                uint64_t linear) {
  const bool long_mode = (p.efer & kEferLma) != 0;
  uint64_t table;
  int level;  // 4: PML4, 3: PDPT, 2: PD, 1: PT
  if (long_mode) {
    table = p.cr3 & kAddressMask;
    level = 4;
  } else {
    // PAE: CR3 points at four PDPTEs, 32-byte aligned.
    const uint64_t pdpte_gpa = (p.cr3 & 0xffffffe0) + ((linear >> 30) & 3) * 8;
    auto pdpte = ReadEntry(m, pdpte_gpa, 8);
    if (!pdpte.ok()) return pdpte.status();
    if (!(*pdpte & kPresent)) return NotMapped(linear, "PDPT");
    table = *pdpte & kAddressMask;
    level = 2;
  }
  static constexpr const char* kNames[] = {"", "page table", "page directory",
                                           "PDPT", "PML4"};
  for (; level >= 1; --level) {
    const int shift = 12 + 9 * (level - 1);
    const uint64_t index = (linear >> shift) & 0x1ff;
    auto entry = ReadEntry(m, table + index * 8, 8);
    if (!entry.ok()) return entry.status();
    if (!(*entry & kPresent)) return NotMapped(linear, kNames[level]);
    const bool large = level <= 3 && level >= 2 && (*entry & kLargePage);
    if (level == 1 || large) {
      const uint64_t page_mask = (uint64_t{1} << shift) - 1;
      return (*entry & kAddressMask & ~page_mask) | (linear & page_mask);
    }
    table = *entry & kAddressMask;
  }
  return absl::InternalError("page walk fell through");
}

}  // namespace

absl::StatusOr<uint64_t> TranslateLinear(const PagingState& paging,
                                         const GuestMemory& memory,
                                         uint64_t linear) {
  if (!(paging.cr0 & kCr0Pg)) return linear & 0xffffffffull;
  if (paging.cr4 & kCr4La57) {
    return absl::UnimplementedError(
        "5-level paging (CR4.LA57) is not supported");
  }
  if (paging.cr4 & kCr4Pae) return Walk64(paging, memory, linear);
  return Walk32(paging, memory, linear & 0xffffffffull);
}

absl::StatusOr<size_t> ReadLinear(const PagingState& paging,
                                  const GuestMemory& memory, uint64_t linear,
                                  std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t at = linear + done;
    auto gpa = TranslateLinear(paging, memory, at);
    if (!gpa.ok()) {
      if (done == 0) return gpa.status();
      break;
    }
    const size_t in_page = kPageSize - (at % kPageSize);
    size_t n = std::min(out.size() - done, in_page);
    if (*gpa >= memory.size()) {
      if (done == 0) {
        return absl::OutOfRangeError(absl::StrFormat(
            "linear address 0x%x maps to gpa 0x%x, outside guest memory", at,
            *gpa));
      }
      break;
    }
    n = std::min<uint64_t>(n, memory.size() - *gpa);
    if (absl::Status s = memory.Read(*gpa, out.subspan(done, n)); !s.ok()) {
      return s;
    }
    done += n;
  }
  return done;
}

}  // namespace xv
