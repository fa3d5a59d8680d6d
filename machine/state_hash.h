// The replica state hash (DESIGN §4): one formula over the CPU's
// architectural state, every front-end's state blob, the virtual clock and
// the memory root, shared by a live Machine and by a checkpoint that must
// prove its content matches the hash it carries.
#ifndef EXTRAVIRT_MACHINE_STATE_HASH_H_
#define EXTRAVIRT_MACHINE_STATE_HASH_H_

#include <cstdint>
#include <span>
#include <vector>

#include "base/hash128.h"
#include "hypervisor/arch_state.h"

namespace xv {

// `front_ends` in PcPlatform::front_ends() order.
Hash128 ComposeStateHash(const ArchState& cpu,
                         std::span<const std::span<const uint8_t>> front_ends,
                         uint64_t clock_ns, const Hash128& memory_root);

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_STATE_HASH_H_
