#include "xv/exit.h"

#include "xv/irq.h"
#include "xv/port_io.h"

_Noreturn void xv_exit(uint32_t code) {
  xv_outl(XV_DEBUG_EXIT_PORT, code);
  // Only reached without a debug-exit device: sleep for good.
  for (;;) xv_wait_for_interrupt(xv_irq_total_count());
}
