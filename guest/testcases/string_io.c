// String port I/O — one `rep outs` and one `rep ins` of a chosen length,
// element width and privilege level — for tests of the string-I/O rule of
// hypervisor/cpu_exit.h (how many exits a VMM counts for each instruction,
// and where it may stop between them) and that the data arrives intact.
//
// It writes n elements to the VRO port (0x80, which ignores them), then
// reads n elements from the VRO port (which reads as all ones) into a buffer
// that starts 100 bytes before a page boundary, so that longer reads cross
// pages, and prints the buffer's byte sum and what RCX, RSI and RDI held
// after each instruction.
//
// Options: n=N elements per instruction (default 300, at most 4000),
// width=1|2|4 bytes per element (default 1), cpl=3|0 (default 3).
#include "cpl0_helpers.h"
#include "xv/xv.h"

#define MAX_ELEMENTS 4000
#define PAGE 4096

static uint8_t buffer[5 * PAGE] __attribute__((aligned(PAGE)));

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){"n", "width", "cpl", NULL});
  const uint64_t n = xv_cmdline_u64("n", 300);
  const uint64_t width = xv_cmdline_u64("width", 1);
  const uint64_t cpl = xv_cmdline_u64("cpl", 3);
  if (n > MAX_ELEMENTS || (width != 1 && width != 2 && width != 4) ||
      (cpl != 0 && cpl != 3)) {
    xv_fatal(XV_EXIT_USAGE,
             "string_io: n must be at most 4000, width 1, 2 or 4, cpl 0 or 3");
  }
  uint8_t* start = buffer + PAGE - 100;
  for (uint64_t i = 0; i < n * width; i++) start[i] = (uint8_t)i;

  struct cpl0_string_io op = {.port = XV_VRO_PORT,
                              .width = (uint16_t)width,
                              .in = 0,
                              .buf = start,
                              .count = n};
  if (cpl == 0) {
    xv_run_cpl0(cpl0_string_io, (uint64_t)(uintptr_t)&op);
  } else {
    cpl0_string_io_at_cpl3(&op);
  }
  const uint64_t out_rcx = op.count;
  const uint64_t out_rsi = (uint64_t)((uint8_t*)op.buf - start);

  op.in = 1;
  op.buf = start;
  op.count = n;
  if (cpl == 0) {
    xv_run_cpl0(cpl0_string_io, (uint64_t)(uintptr_t)&op);
  } else {
    cpl0_string_io_at_cpl3(&op);
  }
  uint64_t sum = 0;
  for (uint64_t i = 0; i < n * width + 200; i++) sum += start[i];

  xv_printf("string_io: n=%llu width=%llu cpl=%llu\n", (unsigned long long)n,
            (unsigned long long)width, (unsigned long long)cpl);
  xv_printf("outs: rcx=%llu rsi=+%llu\n", (unsigned long long)out_rcx,
            (unsigned long long)out_rsi);
  xv_printf("ins: rcx=%llu rdi=+%llu sum=%llu\n", (unsigned long long)op.count,
            (unsigned long long)((uint8_t*)op.buf - start),
            (unsigned long long)sum);
  return XV_EXIT_SUCCESS;
}
