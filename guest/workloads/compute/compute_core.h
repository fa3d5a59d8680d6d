// The compute workload's computation, shared by the guest (compute.elf) and
// the host build (//guest:compute_native) so benchmarks compare the same
// work: `mib` MiB from a fixed PRNG, hashed with SHA-256 and CRC-32.
#ifndef XV_GUEST_COMPUTE_COMPUTE_CORE_H_
#define XV_GUEST_COMPUTE_COMPUTE_CORE_H_

#include <stddef.h>
#include <stdint.h>

#include "sha256.h"

// About a second natively on our machines.
#define COMPUTE_DEFAULT_MIB 256

struct compute_result {
  uint64_t mib;
  uint8_t sha256[SHA256_DIGEST_SIZE];
  uint32_t crc32;
};

void compute_run(uint64_t mib, struct compute_result* result);

// "compute: mib=<mib> sha256=<64 hex digits> crc32=<8 hex digits>", no
// newline. Returns the length; `size` must be at least
// COMPUTE_RESULT_LINE_SIZE.
#define COMPUTE_RESULT_LINE_SIZE 128
size_t compute_format_result(const struct compute_result* result, char* buf,
                             size_t size);

#endif  // XV_GUEST_COMPUTE_COMPUTE_CORE_H_
