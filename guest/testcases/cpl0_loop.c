// Prints one line, then spins forever at CPL0 with interrupts disabled
// (emulated instruction by instruction under PVM). For VMM tests: stopping
// a guest stuck in its kernel.
#include "cpl0_helpers.h"
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  xv_puts("cpl0_loop: spinning forever at CPL0 with interrupts disabled");
  xv_run_cpl0(cpl0_spin_forever, 0);
  return XV_EXIT_FAILURE;
}
