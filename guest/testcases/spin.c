// Prints one line, then loops forever at CPL3 without a single exit. For
// VMM tests: stopping or interrupting a guest that never exits on its own.
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  xv_puts("spin: looping forever at CPL3 without exits");
  for (;;) __asm__ volatile("" ::: "memory");
}
