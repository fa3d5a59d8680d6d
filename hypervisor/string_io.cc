#include "hypervisor/string_io.h"

#include <algorithm>

namespace xv {

uint64_t InsBatchElements(uint64_t remaining, uint64_t rdi, bool df,
                          uint8_t element_size) {
  constexpr uint64_t kPage = 4096;
  constexpr uint64_t kReadAheadBytes = 1024;
  const uint64_t offset = rdi % kPage;
  const uint64_t in_page = df ? offset : kPage - offset;
  const uint64_t n =
      std::min({in_page, kReadAheadBytes / element_size, remaining});
  return std::max<uint64_t>(n, 1);
}

}  // namespace xv
