// Counts PIT ticks with the wait system call and checks them against the
// RTC. The output is deterministic: it names no wall-clock value.
//
// Options: ticks=N (default 50), hz=N (default 100).
#include "xv/xv.h"

struct tick_wait {
  uint64_t start;
  uint64_t ticks;
};

static bool enough_ticks(void* ctx) {
  const struct tick_wait* w = ctx;
  return xv_irq_count(XV_IRQ_PIT) - w->start >= w->ticks;
}

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"ticks", "hz", NULL});
  uint64_t ticks = xv_cmdline_u64("ticks", 50);
  uint64_t hz = xv_cmdline_u64("hz", 100);
  if (ticks == 0 || hz < 19 || hz > 10000) {
    xv_fatal(XV_EXIT_USAGE, "timer: need ticks >= 1 and 19 <= hz <= 10000");
  }

  struct xv_rtc_time before, after;
  if (!xv_rtc_read(&before)) {
    xv_puts("timer: the RTC gave no valid time");
    return XV_EXIT_FAILURE;
  }
  struct tick_wait wait = {.ticks = ticks};
  wait.start = xv_irq_count(XV_IRQ_PIT);
  uint16_t divisor = xv_pit_start_periodic((uint32_t)hz);
  xv_wait_until(enough_ticks, &wait);
  xv_pit_stop();
  if (!xv_rtc_read(&after)) {
    xv_puts("timer: the RTC gave no valid time after the ticks");
    return XV_EXIT_FAILURE;
  }

  // The ticks took at least (ticks - 1) periods; lost ticks (a slow
  // emulator may merge some) only make the RTC see more time, and reading
  // the RTC takes a little too. RTC seconds also quantise: allow one more.
  uint64_t period_ns = (uint64_t)divisor * 1000000000ull / XV_PIT_INPUT_HZ;
  int64_t min_seconds = (int64_t)((ticks - 1) * period_ns / 1000000000ull);
  int64_t max_seconds = (int64_t)(2 * ticks * period_ns / 1000000000ull) + 2;
  int64_t elapsed =
      xv_rtc_to_unix_seconds(&after) - xv_rtc_to_unix_seconds(&before);
  if (elapsed < min_seconds || elapsed > max_seconds) {
    xv_printf(
        "timer: rtc inconsistent: %lld s elapsed for %llu ticks at %llu Hz "
        "(expected %lld..%lld s)\n",
        (long long)elapsed, (unsigned long long)ticks, (unsigned long long)hz,
        (long long)min_seconds, (long long)max_seconds);
    return XV_EXIT_FAILURE;
  }
  xv_printf("timer: %llu ticks at %llu Hz, rtc consistent\n",
            (unsigned long long)ticks, (unsigned long long)hz);
  return XV_EXIT_SUCCESS;
}
