#include "hypervisor/segment_descriptor.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "hypervisor/page_walk.h"
#include "hypervisor/x86_bits.h"

namespace xv {
namespace {

using x86::kCr0Pe;

}  // namespace

SegmentDescriptor DecodeSegmentDescriptor(uint16_t selector, uint64_t d) {
  SegmentDescriptor s;
  s.selector = selector;
  const uint32_t limit =
      static_cast<uint32_t>((d & 0xffff) | ((d >> 32) & 0xf0000));
  s.base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
  s.type = (d >> 40) & 0xf;
  s.s = (d >> 44) & 1;
  s.dpl = (d >> 45) & 3;
  s.present = (d >> 47) & 1;
  s.avl = (d >> 52) & 1;
  s.l = (d >> 53) & 1;
  s.db = (d >> 54) & 1;
  s.g = (d >> 55) & 1;
  s.limit = s.g ? (limit << 12) | 0xfff : limit;
  return s;
}

absl::StatusOr<SegmentDescriptor> LoadSegmentDescriptor(
    uint16_t selector, bool data, const ArchState& arch,
    const GuestMemory& memory, const char* name) {
  SegmentDescriptor s;
  s.selector = selector;
  if (!(arch.cr0 & kCr0Pe)) {
    s.base = uint64_t{selector} << 4;
    s.limit = 0xffff;
    s.type = data ? 3 : 0xb;
    s.present = 1;
    s.s = 1;
    return s;
  }
  if ((selector & ~3u) == 0) {
    s.unusable = true;
    return s;
  }
  if (selector & 4) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s selector 0x%x refers to the LDT, which a state without a KVM "
        "blob cannot be restored from",
        name, selector));
  }
  const PagingState paging{arch.cr0, arch.cr3, arch.cr4, arch.efer};
  uint8_t raw[8];
  const uint64_t at = arch.gdtr.base + (selector & ~7u);
  if ((selector | 7u) > arch.gdtr.limit) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s selector 0x%x is beyond the GDT limit 0x%x", name,
                        selector, arch.gdtr.limit));
  }
  auto read = ReadLinear(paging, memory, at, raw);
  if (!read.ok() || *read != sizeof raw) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot read the descriptor of %s selector 0x%x at linear 0x%x", name,
        selector, at));
  }
  uint64_t d;
  std::memcpy(&d, raw, sizeof d);
  return DecodeSegmentDescriptor(selector, d);
}

absl::StatusOr<SegmentDescriptor> LoadSystemSegmentDescriptor(
    const SystemSegment& seg, const ArchState& arch, const GuestMemory& memory,
    const char* name, uint8_t default_type) {
  SegmentDescriptor s;
  if (!(arch.cr0 & kCr0Pe)) {
    // Real mode keeps whatever system segment was loaded before; its
    // selector names no descriptor to read.
    s.type = default_type;
    s.present = 1;
  } else if ((seg.selector & ~3u) == 0) {
    s.unusable = true;
    s.type = default_type;
  } else {
    auto loaded =
        LoadSegmentDescriptor(seg.selector, false, arch, memory, name);
    if (!loaded.ok()) return loaded.status();
    s = *loaded;
  }
  s.selector = seg.selector;
  s.base = seg.base;
  s.limit = seg.limit;
  return s;
}

}  // namespace xv
