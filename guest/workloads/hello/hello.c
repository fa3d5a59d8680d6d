// The smallest guest: one line, exit 0.
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  xv_puts("Hello from the xvirt guest SDK!");
  return XV_EXIT_SUCCESS;
}
