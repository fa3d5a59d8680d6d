// Interrupt delivery both ways a guest sees them: `ticks` PIT ticks while
// the workload busy-polls with port I/O at CPL3 (a VMM injects at those
// exits), then `ticks` more while it sleeps in the wait system call (sti;
// hlt at CPL0). The output is deterministic.
//
// Options: ticks=N (default 10), hz=N (default 1000).
#include "xv/xv.h"

struct tick_wait {
  uint64_t until;
};

static bool reached(void* ctx) {
  return xv_irq_count(XV_IRQ_PIT) >= ((struct tick_wait*)ctx)->until;
}

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"ticks", "hz", NULL});
  uint64_t ticks = xv_cmdline_u64("ticks", 10);
  uint64_t hz = xv_cmdline_u64("hz", 1000);
  uint64_t start = xv_irq_count(XV_IRQ_PIT);
  xv_pit_start_periodic((uint32_t)hz);
  uint64_t polls = 0;
  while (xv_irq_count(XV_IRQ_PIT) - start < ticks) {
    xv_vro();  // An exit: where a VMM without an irqchip can inject.
    polls++;
  }
  struct tick_wait wait = {.until = xv_irq_count(XV_IRQ_PIT) + ticks};
  xv_wait_until(reached, &wait);
  xv_pit_stop();
  if (polls == 0) {
    xv_puts("interrupts: no port I/O happened while polling");
    return XV_EXIT_FAILURE;
  }
  xv_printf(
      "interrupts: %llu ticks while polling at CPL3, %llu ticks while "
      "waiting\n",
      (unsigned long long)ticks, (unsigned long long)ticks);
  return XV_EXIT_SUCCESS;
}
