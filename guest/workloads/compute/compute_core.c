#include "compute_core.h"

#include "crc32.h"

#define CHUNK_WORDS 8192  // 64 KiB per chunk: stays in L2.

// splitmix64: a fixed, well-mixed stream from a fixed seed.
static uint64_t next_random(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void compute_run(uint64_t mib, struct compute_result* result) {
  static uint64_t chunk[CHUNK_WORDS];
  uint64_t state = 0x5eed0f0c0ffee000ull;
  struct sha256 sha;
  uint32_t crc = 0;
  sha256_init(&sha);
  crc32_init_tables();
  uint64_t chunks = mib * ((size_t)1024 * 1024 / sizeof(chunk));
  for (uint64_t c = 0; c < chunks; c++) {
    for (int i = 0; i < CHUNK_WORDS; i++) chunk[i] = next_random(&state);
    // Hashed as bytes in memory order (both builds are little-endian x86).
    sha256_update(&sha, chunk, sizeof(chunk));
    crc = crc32_update(crc, chunk, sizeof(chunk));
  }
  result->mib = mib;
  sha256_final(&sha, result->sha256);
  result->crc32 = crc;
}

static size_t append(char* buf, size_t at, size_t size, const char* s) {
  while (*s != '\0' && at + 1 < size) buf[at++] = *s++;
  return at;
}

static size_t append_hex(char* buf, size_t at, size_t size, uint64_t value,
                         int digits) {
  for (int i = digits - 1; i >= 0 && at + 1 < size; i--) {
    buf[at++] = "0123456789abcdef"[(value >> (4 * i)) & 0xf];
  }
  return at;
}

static size_t append_decimal(char* buf, size_t at, size_t size,
                             uint64_t value) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0 && at + 1 < size) buf[at++] = digits[--n];
  return at;
}

size_t compute_format_result(const struct compute_result* result, char* buf,
                             size_t size) {
  size_t at = append(buf, 0, size, "compute: mib=");
  at = append_decimal(buf, at, size, result->mib);
  at = append(buf, at, size, " sha256=");
  for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
    at = append_hex(buf, at, size, result->sha256[i], 2);
  }
  at = append(buf, at, size, " crc32=");
  at = append_hex(buf, at, size, result->crc32, 8);
  buf[at] = '\0';
  return at;
}
