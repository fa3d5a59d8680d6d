// Raises an exception so that the guest kernel's report path (one line on
// COM1, then debug-exit XV_EXIT_EXCEPTION_BASE + vector) can be tested.
//
// Options: kind=ud|gp|pf|de|bp (default ud), cpl=3|0 (default 3). kind=bp
// with cpl=0 executes int3 in the guest kernel, which PVM's emulator cannot
// do: a VMM must report that emulation failure clearly.
#include "cpl0_helpers.h"
#include "xv/xv.h"

struct kind {
  const char* name;
  void (*raise_cpl3)(void);
  xv_cpl0_fn raise_cpl0;
};

static void raise_ud(void) { __asm__ volatile("ud2"); }
static void raise_gp(void) {
  // A non-canonical address (not a privileged instruction: PVM handles
  // some of those itself at CPL3).
  (void)*(volatile uint64_t*)(uintptr_t)0x8000000000000000ull;
}
static void raise_pf(void) {
  *(volatile uint64_t*)(uintptr_t)0x100000000ull = 1;
}
static void raise_de(void) {
  uint32_t zero = 0;
  __asm__ volatile("divl %1" : : "a"(1), "r"(zero), "d"(0));
}
static void raise_bp(void) { __asm__ volatile("int3"); }

static const struct kind kKinds[] = {
    {"ud", raise_ud, cpl0_raise_ud}, {"gp", raise_gp, cpl0_raise_gp},
    {"pf", raise_pf, cpl0_raise_pf}, {"de", raise_de, cpl0_raise_de},
    {"bp", raise_bp, cpl0_raise_bp},
};

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"kind", "cpl", NULL});
  const char* name = xv_cmdline_str("kind", "ud");
  uint64_t cpl = xv_cmdline_u64("cpl", 3);
  if (cpl != 0 && cpl != 3) xv_fatal(XV_EXIT_USAGE, "exception: cpl=0 or 3");
  for (size_t i = 0; i < sizeof(kKinds) / sizeof(kKinds[0]); i++) {
    if (strcmp(kKinds[i].name, name) != 0) continue;
    xv_printf("exception: raising %s at CPL%llu\n", name,
              (unsigned long long)cpl);
    if (cpl == 3) {
      kKinds[i].raise_cpl3();
    } else {
      xv_run_cpl0(kKinds[i].raise_cpl0, 0);
    }
    xv_puts("exception: survived, which is wrong");
    return XV_EXIT_FAILURE;
  }
  xv_fatal(XV_EXIT_USAGE, "exception: kind must be ud, gp, pf, de or bp");
}
