// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), slicing-by-8.
// Portable C: built into the guest and for the host.
#ifndef XV_GUEST_COMPUTE_CRC32_H_
#define XV_GUEST_COMPUTE_CRC32_H_

#include <stddef.h>
#include <stdint.h>

// Builds the lookup tables; call once before crc32_update().
void crc32_init_tables(void);
// Start with crc = 0; crc32("123456789") == 0xcbf43926.
uint32_t crc32_update(uint32_t crc, const void* data, size_t length);

#endif  // XV_GUEST_COMPUTE_CRC32_H_
