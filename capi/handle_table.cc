#include "capi/handle_table.h"

#include <atomic>

namespace xv::capi {

uintptr_t NextHandleValue() {
  // Starts far from 0 so that a handle is never NULL or a small integer a
  // caller might pass by mistake; 64-bit, so it never wraps in practice.
  static std::atomic<uintptr_t> next{0x10000};
  return next.fetch_add(16);
}

}  // namespace xv::capi
