// Executes sha256rnds2 (the SHA extensions), a real instruction that the
// emulator backend cannot run (Unicorn 2.0.1 is QEMU 5.0's TCG, which has
// none of them) and that a CPU with SHA runs at CPL3 with SSE enabled. For
// VMM tests of a guest instruction the backend lacks. Prints whether CPUID
// reports SHA first: without it a real CPU raises #UD (the guest then ends
// with XV_EXIT_EXCEPTION_BASE + 6).
#include "xv/xv.h"

static int cpuid_reports_sha(void) {
  uint32_t a = 0, b = 0, c = 0, d = 0;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  if (a < 7) return 0;
  a = 7;
  c = 0;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  return (b >> 29) & 1;
}

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  xv_printf("sha_insn: cpuid %s SHA; executing sha256rnds2\n",
            cpuid_reports_sha() ? "reports" : "does not report");
  __asm__ volatile("sha256rnds2 %%xmm1, %%xmm0" ::: "xmm0");
  xv_puts("sha_insn: sha256rnds2 ran");
  return XV_EXIT_SUCCESS;
}
