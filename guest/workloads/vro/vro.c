// A long exit-free computation that makes a voluntary rendezvous (an `out`
// to port 0x80) every `every` iterations, so a VMM gets regular points at
// which to inject interrupts or take checkpoints.
//
// Options: iters=N (default 200000000), every=N (default 1000000).
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"iters", "every", NULL});
  uint64_t iters = xv_cmdline_u64("iters", 200000000);
  uint64_t every = xv_cmdline_u64("every", 1000000);
  if (every == 0) xv_fatal(XV_EXIT_USAGE, "vro: every must be at least 1");

  uint64_t x = 0x0123456789abcdefull;
  uint64_t acc = 0;
  uint64_t rendezvous = 0;
  uint64_t until_vro = every;
  for (uint64_t i = 0; i < iters; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    acc += (x >> 29) ^ (acc << 7 | acc >> 57);
    if (--until_vro == 0) {
      xv_vro();
      rendezvous++;
      until_vro = every;
    }
  }
  xv_printf("vro: iters=%llu every=%llu vros=%llu result=0x%016llx\n",
            (unsigned long long)iters, (unsigned long long)every,
            (unsigned long long)rendezvous, (unsigned long long)acc);
  return XV_EXIT_SUCCESS;
}
