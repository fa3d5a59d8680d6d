// SHA-256 (FIPS 180-4). Portable C: built into the guest and for the host.
#ifndef XV_GUEST_COMPUTE_SHA256_H_
#define XV_GUEST_COMPUTE_SHA256_H_

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32

struct sha256 {
  uint32_t state[8];
  uint64_t length;  // Bytes hashed so far.
  uint8_t block[64];
  size_t block_used;
};

void sha256_init(struct sha256* s);
void sha256_update(struct sha256* s, const void* data, size_t length);
void sha256_final(struct sha256* s, uint8_t digest[SHA256_DIGEST_SIZE]);

#endif  // XV_GUEST_COMPUTE_SHA256_H_
