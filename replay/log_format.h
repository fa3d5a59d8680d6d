// The on-disk container of the nondeterminism log (DESIGN §3): the constants
// and the frame header that LogWriter writes and LogReader checks.
//
// Byte layout (all integers little-endian):
//
//   file header (16 bytes)
//     0  8  magic "XVIRTLOG"
//     8  4  container version (kLogContainerVersion)
//    12  4  reserved, 0
//   frames, back to back until the end of the file:
//     0  4  payload length L (bytes as stored, 1..kLogMaxSegmentBytes)
//     4  4  flags: bit 0 = payload is one zstd frame that declares its
//           content size; every other bit must be 0
//     8  8  XXH3-64 (seed 0) of the L payload bytes as stored
//    16  L  payload
//
// A payload, once decompressed, is a segment: Cap'n Proto messages in flat
// (unpacked) form, back to back, each an `xv::log::Record` (log.capnp). Each
// message is a whole number of 8-byte words, so a segment is too; it holds at
// most kLogMaxSegmentBytes. Records are numbered from 0 across the file;
// record 0 is the Header.
//
// A recorder killed mid-write leaves a prefix of a valid file: the last frame
// may be cut anywhere (a torn tail). A reader keeps every complete frame
// before it; a complete frame that fails its checksum is corruption.
#ifndef EXTRAVIRT_REPLAY_LOG_FORMAT_H_
#define EXTRAVIRT_REPLAY_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>

namespace xv {

inline constexpr char kLogMagic[8] = {'X', 'V', 'I', 'R', 'T', 'L', 'O', 'G'};
inline constexpr uint32_t kLogContainerVersion = 1;
inline constexpr size_t kLogFileHeaderBytes = 16;
inline constexpr size_t kLogFrameHeaderBytes = 16;

inline constexpr uint32_t kLogFrameCompressed = 1u << 0;
inline constexpr uint32_t kLogKnownFrameFlags = kLogFrameCompressed;

// Upper bound of one segment (decompressed) and of one stored payload, so a
// hostile or corrupt file cannot make a reader allocate more. A single record
// must fit in one segment.
inline constexpr size_t kLogMaxSegmentBytes = size_t{64} << 20;

struct LogFrameHeader {
  uint32_t length = 0;
  uint32_t flags = 0;
  uint64_t checksum = 0;

  void Encode(uint8_t out[kLogFrameHeaderBytes]) const;
  static LogFrameHeader Decode(const uint8_t in[kLogFrameHeaderBytes]);
};

// The frame checksum: XXH3-64 of the payload as stored.
uint64_t LogPayloadChecksum(std::span<const uint8_t> payload);

// Little-endian fixed-width integers.
inline void StoreLe32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void StoreLe64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t LoadLe32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace xv

#endif  // EXTRAVIRT_REPLAY_LOG_FORMAT_H_
