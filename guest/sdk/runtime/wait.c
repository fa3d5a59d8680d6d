#include "xv/irq.h"

void xv_wait_until(bool (*done)(void* ctx), void* ctx) {
  for (;;) {
    uint64_t seen = xv_irq_total_count();
    if (done(ctx)) return;
    xv_wait_for_interrupt(seen);
  }
}
