// Segment descriptors as the CPU loads them from the guest's GDT: the one
// parser every backend uses to rebuild descriptor caches that ArchState
// leaves out (arch_state.h), and that event delivery uses to check a gate's
// code segment.
#ifndef EXTRAVIRT_HYPERVISOR_SEGMENT_DESCRIPTOR_H_
#define EXTRAVIRT_HYPERVISOR_SEGMENT_DESCRIPTOR_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "hypervisor/arch_state.h"
#include "memshare/guest_memory.h"

namespace xv {

// A segment register's hidden part (SDM vol. 3, 3.4.5), backend-neutral.
struct SegmentDescriptor {
  uint16_t selector = 0;
  uint64_t base = 0;
  // Byte-granular: with G=1 already expanded to (limit << 12) | 0xfff.
  uint32_t limit = 0;
  uint8_t type = 0;  // 4 bits
  uint8_t s = 0;     // 1 = code/data, 0 = system
  uint8_t dpl = 0;
  uint8_t present = 0;
  uint8_t avl = 0;
  uint8_t l = 0;  // 64-bit code
  uint8_t db = 0;
  uint8_t g = 0;
  // A null selector was loaded (protected mode): nothing else is meaningful.
  bool unusable = false;
  friend bool operator==(const SegmentDescriptor&,
                         const SegmentDescriptor&) = default;
};

// Decodes the 8-byte descriptor `raw` (its low dword first, as in memory)
// for `selector`. Only the low 8 bytes of a 16-byte system descriptor: the
// upper 32 bits of its base are not included.
SegmentDescriptor DecodeSegmentDescriptor(uint16_t selector, uint64_t raw);

// The segment a CPU would load for `selector` in `arch`'s mode: in real mode
// from the selector alone (a data or, with !data, a code segment at
// selector << 4, limit 0xffff), otherwise from its descriptor in the GDT,
// read through the guest's page tables; a null selector gives an unusable
// segment. `name` ("CS") names the register in errors. LDT selectors are
// refused (Unimplemented); a selector beyond the GDT limit or a descriptor
// that cannot be read is FailedPrecondition.
absl::StatusOr<SegmentDescriptor> LoadSegmentDescriptor(
    uint16_t selector, bool data, const ArchState& arch,
    const GuestMemory& memory, const char* name);

// TR and LDTR: selector, base and limit from `seg`, the rest from the
// descriptor. In real mode, or for a null selector (then also unusable),
// the type is `default_type` (2 for an LDT, 0xb for a busy 64-bit TSS).
absl::StatusOr<SegmentDescriptor> LoadSystemSegmentDescriptor(
    const SystemSegment& seg, const ArchState& arch, const GuestMemory& memory,
    const char* name, uint8_t default_type);

}  // namespace xv

#endif  // EXTRAVIRT_HYPERVISOR_SEGMENT_DESCRIPTOR_H_
