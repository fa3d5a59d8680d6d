// Built with guest_kernel(auto_vro = True): every XV_AUTO_VRO_CALLS function
// calls make a voluntary rendezvous, without a single explicit xv_vro().
// Naive recursive Fibonacci makes plenty of calls (fib(n) makes about
// 3.3 fib(n) of them).
//
// Options: n=N (default 25).
#include "xv/xv.h"

static uint64_t fib(uint64_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"n", NULL});
  uint64_t n = xv_cmdline_u64("n", 25);
  xv_printf("auto_vro: fib(%llu) = %llu\n", (unsigned long long)n,
            (unsigned long long)fib(n));
  return XV_EXIT_SUCCESS;
}
