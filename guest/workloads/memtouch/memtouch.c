// Dirties memory: `passes` times, writes one word into every page (every
// `stride` bytes) of a `mib` MiB buffer, then reads everything back into a
// checksum. Exits only through its own port I/O, so a VMM sees the pages
// dirtied between few exits.
//
// Options: mib=N (default 64), passes=N (default 4), stride=N bytes
// (default 4096, a power of two >= 8), vro=N (default 0: none): a voluntary
// rendezvous after every N words written, so that replicas can be verified
// and merged while it writes (benchmarks of the pair's memory).
#include "xv/xv.h"

static uint64_t word_value(uint64_t pass, uint64_t index) {
  uint64_t x = (pass << 40 | index) * 0xd6e8feb86659fd93ull;
  return x ^ (x >> 32);
}

int xv_main(void) {
  xv_cmdline_allow_only(
      (const char* const[]){"mib", "passes", "stride", "vro", NULL});
  uint64_t mib = xv_cmdline_u64("mib", 64);
  uint64_t passes = xv_cmdline_u64("passes", 4);
  uint64_t stride = xv_cmdline_u64("stride", 4096);
  uint64_t vro = xv_cmdline_u64("vro", 0);
  if (stride < 8 || (stride & (stride - 1)) != 0 || stride > (1u << 20)) {
    xv_fatal(XV_EXIT_USAGE, "memtouch: stride must be a power of two, 8..1M");
  }
  uint64_t bytes = mib << 20;
  volatile uint64_t* buffer = xv_alloc(bytes, 4096);
  if (buffer == NULL) {
    xv_printf("memtouch: cannot allocate %llu MiB (%llu MiB free)\n",
              (unsigned long long)mib,
              (unsigned long long)(xv_free_bytes() >> 20));
    return XV_EXIT_FAILURE;
  }
  uint64_t words = bytes / stride;
  uint64_t step = stride / sizeof(uint64_t);
  uint64_t checksum = 0;
  for (uint64_t pass = 0; pass < passes; pass++) {
    for (uint64_t i = 0; i < words; i++) {
      buffer[i * step] = word_value(pass, i);
      if (vro != 0 && (i + 1) % vro == 0) xv_vro();
    }
    for (uint64_t i = 0; i < words; i++) {
      checksum = (checksum ^ buffer[i * step]) * 0x100000001b3ull;
    }
  }
  xv_printf("memtouch: mib=%llu passes=%llu stride=%llu checksum=0x%016llx\n",
            (unsigned long long)mib, (unsigned long long)passes,
            (unsigned long long)stride, (unsigned long long)checksum);
  return XV_EXIT_SUCCESS;
}
