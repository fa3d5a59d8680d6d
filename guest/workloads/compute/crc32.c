#include "crc32.h"

static uint32_t tables[8][256];

void crc32_init_tables(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    tables[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; i++) {
    for (int t = 1; t < 8; t++) {
      uint32_t prev = tables[t - 1][i];
      tables[t][i] = (prev >> 8) ^ tables[0][prev & 0xff];
    }
  }
}

uint32_t crc32_update(uint32_t crc, const void* data, size_t length) {
  const uint8_t* p = data;
  crc = ~crc;
  for (; length >= 8; p += 8, length -= 8) {
    uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
                         (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                  (uint32_t)p[7] << 24;
    crc = tables[7][lo & 0xff] ^ tables[6][(lo >> 8) & 0xff] ^
          tables[5][(lo >> 16) & 0xff] ^ tables[4][lo >> 24] ^
          tables[3][hi & 0xff] ^ tables[2][(hi >> 8) & 0xff] ^
          tables[1][(hi >> 16) & 0xff] ^ tables[0][hi >> 24];
  }
  while (length-- > 0) crc = (crc >> 8) ^ tables[0][(crc ^ *p++) & 0xff];
  return ~crc;
}
