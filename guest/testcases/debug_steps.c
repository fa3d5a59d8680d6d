// For source-level debugging tests (debug/gdb_source_test.sh): a loop whose
// local `value` changes on every line, a function it calls that is never
// inlined, and a global. Built with -O0, so gdb sees every local and each
// line is a statement of its own. No input, no options; prints one line and
// exits 0. The tests find lines by the `// step:` markers.
#include "xv/xv.h"

uint64_t debug_steps_total;  // step: global

__attribute__((noinline, noipa)) uint64_t debug_steps_square(uint64_t x) {
  uint64_t squared = x * x;  // step: square
  return squared % 1000;     // step: square_return
}

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  uint64_t value = 1;
  for (uint64_t i = 0; i < 4; i++) {
    value = value * 3;                  // step: triple
    value = value + i + 1;              // step: add
    value = debug_steps_square(value);  // step: call
    debug_steps_total += value;         // step: total
  }
  xv_printf("debug_steps: value=%llu total=%llu\n", (unsigned long long)value,
            (unsigned long long)debug_steps_total);
  return XV_EXIT_SUCCESS;
}
