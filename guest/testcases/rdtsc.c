// Lets the time-stamp counter steer what it prints and how many exits it
// makes: a deliberate source of nondeterminism that record/replay cannot
// capture on our machines (rdtsc does not exit). Replay verification must
// catch the divergence. Nothing else in the guest SDK may use rdtsc.
#include "xv/xv.h"

static uint64_t read_tsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64_t)hi << 32 | lo;
}

// The whole counter also lands in memory, so even two runs that happen to
// print the same value end in different states.
volatile uint64_t g_tsc;

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  uint64_t tsc = read_tsc();
  g_tsc = tsc;
  // Low bits change from run to run; the cycle counter's lowest bits may be
  // coarse, so take bits 8-15.
  unsigned steer = (unsigned)(tsc >> 8) & 0xff;
  for (unsigned i = 0; i < steer % 16; i++) xv_vro();
  xv_printf("rdtsc: steered value %u\n", steer);
  return XV_EXIT_SUCCESS;
}
