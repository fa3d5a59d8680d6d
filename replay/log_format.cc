#include "replay/log_format.h"

// Inlined XXH3 is ~3x faster than the shared library's (KVM-NOTES.md).
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace xv {

void LogFrameHeader::Encode(uint8_t out[kLogFrameHeaderBytes]) const {
  StoreLe32(out, length);
  StoreLe32(out + 4, flags);
  StoreLe64(out + 8, checksum);
}

LogFrameHeader LogFrameHeader::Decode(const uint8_t in[kLogFrameHeaderBytes]) {
  return {LoadLe32(in), LoadLe32(in + 4), LoadLe64(in + 8)};
}

uint64_t LogPayloadChecksum(std::span<const uint8_t> payload) {
  return XXH3_64bits(payload.data(), payload.size());
}

}  // namespace xv
