#include "machine/state_hash.h"

namespace xv {

Hash128 ComposeStateHash(const VcpuState& vcpu,
                         std::span<const std::span<const uint8_t>> front_ends,
                         uint64_t clock_ns, const Hash128& memory_root) {
  Hasher h;
  h.Update(std::string_view("xvirt-state-v2"));
  HashVcpuState(vcpu, h);
  for (std::span<const uint8_t> blob : front_ends) {
    h.UpdateU64(blob.size());
    h.Update(blob);
  }
  h.UpdateU64(clock_ns);
  h.Update(memory_root);
  return h.Digest();
}

}  // namespace xv
