#include "machine/state_hash.h"

namespace xv {

Hash128 ComposeStateHash(const ArchState& cpu,
                         std::span<const std::span<const uint8_t>> front_ends,
                         uint64_t clock_ns, const Hash128& memory_root) {
  Hasher h;
  // v3: the architectural state (hypervisor/arch_state.h), no longer KVM's
  // structures, so that every backend hashes the same state the same way.
  h.Update(std::string_view("xvirt-state-v3"));
  HashArchState(cpu, h);
  for (std::span<const uint8_t> blob : front_ends) {
    h.UpdateU64(blob.size());
    h.Update(blob);
  }
  h.UpdateU64(clock_ns);
  h.Update(memory_root);
  return h.Digest();
}

}  // namespace xv
