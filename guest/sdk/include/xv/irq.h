// Interrupt counters and waiting for interrupts.
//
// The CPL0 handler of ISA IRQ n only increments xv_irq_counts[n] and
// xv_irq_total (the PICs run in auto-EOI mode, so no EOI is needed).
// Everything device-specific happens at CPL3 in the drivers.
//
// A VMM without an in-kernel irqchip injects interrupts only when the vCPU
// exits, so spinning on a counter without exits never sees it change. Wait
// like this instead (race-free: the kernel re-checks the total with
// interrupts disabled before `sti; hlt`):
//
//   for (;;) {
//     uint64_t seen = xv_irq_total();
//     if (condition_holds()) break;
//     xv_wait_for_interrupt(seen);
//   }
#ifndef XV_IRQ_H_
#define XV_IRQ_H_

#define XV_IRQ_COUNT 16
#define XV_VECTOR_IRQ_BASE 0x20  // IRQ n arrives at vector 0x20 + n.

#ifndef __ASSEMBLER__
#include <stdbool.h>
#include <stdint.h>

#include "xv/syscall.h"

enum {
  XV_IRQ_PIT = 0,
  XV_IRQ_CASCADE = 2,
  XV_IRQ_COM1 = 4,
  XV_IRQ_RTC = 8,
  XV_IRQ_ATA_PRIMARY = 14,
};

// Written only by the CPL0 interrupt handlers.
extern volatile uint64_t xv_irq_counts[XV_IRQ_COUNT];
extern volatile uint64_t xv_irq_total;

static inline uint64_t xv_irq_count(unsigned irq) { return xv_irq_counts[irq]; }

static inline uint64_t xv_irq_total_count(void) { return xv_irq_total; }

// Returns at once if the total interrupt count is no longer `seen_total`,
// otherwise halts until the next interrupt has been handled.
static inline void xv_wait_for_interrupt(uint64_t seen_total) {
  xv_syscall2(XV_SYS_WAIT, seen_total, 0);
}

// Waits until `done(ctx)` is true, sleeping between interrupts.
void xv_wait_until(bool (*done)(void* ctx), void* ctx);

#endif  // __ASSEMBLER__

#endif  // XV_IRQ_H_
