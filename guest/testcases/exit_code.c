// Exits with the debug-exit value given by code=N (default 0), for tests of
// how a VMM reports exit values.
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"code", NULL});
  uint64_t code = xv_cmdline_u64("code", 0);
  xv_printf("exit_code: exiting with %llu\n", (unsigned long long)code);
  xv_exit((uint32_t)code);
}
