// Triple-faults on purpose: loads an empty IDT at CPL0, then raises #UD at
// CPL3. Delivering #UD fails (#GP), delivering that fails (#DF), and that
// fails too: the CPU shuts down. For VMM tests of the shutdown exit.
#include "cpl0_helpers.h"
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  xv_puts("triple_fault: loading an empty IDT, then raising #UD at CPL3");
  xv_run_cpl0(cpl0_load_empty_idt, 0);
  __asm__ volatile("ud2");
  xv_puts("triple_fault: still running, which is wrong");
  return XV_EXIT_FAILURE;
}
