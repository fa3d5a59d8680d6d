// Exit-cost benchmark: n writes to the VRO port (0x80), each a VM exit that
// the VMM handles without side effects, then exit 0.
//
// Options: mode=cpl3 (default; from the workload), mode=cpl0 (inside one
// system call, in the guest kernel), or mode=syscall (n empty system calls,
// no port I/O); n=N (default 10000).
#include "cpl0_helpers.h"
#include "xv/xv.h"

#define XV_SYS_NONE 0xffff  // Unknown to the kernel: returns at once.

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"mode", "n", NULL});
  const char* mode = xv_cmdline_str("mode", "cpl3");
  uint64_t n = xv_cmdline_u64("n", 10000);
  if (strcmp(mode, "cpl3") == 0) {
    for (uint64_t i = 0; i < n; i++) xv_outb(XV_VRO_PORT, 0);
  } else if (strcmp(mode, "cpl0") == 0) {
    xv_run_cpl0(cpl0_vro_outs, n);
  } else if (strcmp(mode, "syscall") == 0) {
    for (uint64_t i = 0; i < n; i++) xv_syscall2(XV_SYS_NONE, 0, 0);
  } else {
    xv_fatal(XV_EXIT_USAGE, "pio_bench: mode must be cpl3, cpl0 or syscall");
  }
  xv_printf("pio_bench: mode=%s n=%llu done\n", mode, (unsigned long long)n);
  return XV_EXIT_SUCCESS;
}
