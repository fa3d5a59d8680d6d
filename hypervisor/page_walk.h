// Linear -> guest-physical translation by walking the guest's own page
// tables in guest memory, as the MMU does for a supervisor read. Used where
// the VMM must look at guest code or data by the address the guest uses
// (decoding the instruction at RIP, reports), on any backend and without a
// round trip into the kernel.
#ifndef EXTRAVIRT_HYPERVISOR_PAGE_WALK_H_
#define EXTRAVIRT_HYPERVISOR_PAGE_WALK_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "memshare/guest_memory.h"

namespace xv {

// The registers that decide how linear addresses translate.
struct PagingState {
  uint64_t cr0 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;
};

// Paging off (CR0.PG=0): identity. 32-bit paging (4 KiB pages, and 4 MiB
// ones with CR4.PSE), PAE paging and 4-level long-mode paging (4 KiB, 2 MiB
// and 1 GiB pages). 5-level paging is refused. NotFound when a level is not
// present; OutOfRange when a table lies outside guest memory.
absl::StatusOr<uint64_t> TranslateLinear(const PagingState& paging,
                                         const GuestMemory& memory,
                                         uint64_t linear);

// Reads out.size() bytes at `linear`, translating page by page; returns
// how many could be read before an unmapped page or the end of memory
// (an error only if not even the first byte can be).
absl::StatusOr<size_t> ReadLinear(const PagingState& paging,
                                  const GuestMemory& memory, uint64_t linear,
                                  std::span<uint8_t> out);

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_PAGE_WALK_H_
