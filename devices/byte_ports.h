// Helpers for front-ends whose registers are one byte wide: on the ISA bus a
// 16- or 32-bit `in`/`out` reaches such a device as consecutive byte
// accesses at port, port+1, ... (QEMU splits them the same way).
#ifndef EXTRAVIRT_DEVICES_BYTE_PORTS_H_
#define EXTRAVIRT_DEVICES_BYTE_PORTS_H_

#include <cstdint>
#include <span>

namespace xv {

template <typename ReadByteFn>
void ReadBytewise(uint16_t port, std::span<uint8_t> data, ReadByteFn&& read) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = read(static_cast<uint16_t>(port + i));
  }
}

template <typename WriteByteFn>
void WriteBytewise(uint16_t port, std::span<const uint8_t> data,
                   WriteByteFn&& write) {
  for (size_t i = 0; i < data.size(); ++i) {
    write(static_cast<uint16_t>(port + i), data[i]);
  }
}

// Little-endian value of a 1-, 2- or 4-byte access.
inline uint32_t LittleEndianValue(std::span<const uint8_t> data) {
  uint32_t v = 0;
  for (size_t i = 0; i < data.size() && i < 4; ++i) {
    v |= uint32_t{data[i]} << (8 * i);
  }
  return v;
}

inline void StoreLittleEndian(uint32_t v, std::span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = i < 4 ? static_cast<uint8_t>(v >> (8 * i)) : 0xff;
  }
}

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_BYTE_PORTS_H_
