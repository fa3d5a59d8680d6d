// 8254 channel 0 as a periodic interrupt source.
#include "xv/pit.h"

#include "xv/irq.h"
#include "xv/pic.h"
#include "xv/port_io.h"

#define PIT_CHANNEL0 0x40
#define PIT_COMMAND 0x43
// Channel 0, low byte then high byte, mode 2 (rate generator), binary.
#define PIT_CH0_LOHI_RATE_GENERATOR 0x34

uint16_t xv_pit_start_periodic(uint32_t hz) {
  if (hz == 0) hz = 1;
  uint32_t divisor = (XV_PIT_INPUT_HZ + hz / 2) / hz;
  if (divisor < 1) divisor = 1;
  if (divisor > 65535) divisor = 65535;
  xv_outb(PIT_COMMAND, PIT_CH0_LOHI_RATE_GENERATOR);
  xv_outb(PIT_CHANNEL0, (uint8_t)divisor);
  xv_outb(PIT_CHANNEL0, (uint8_t)(divisor >> 8));
  xv_pic_unmask(XV_IRQ_PIT);
  return (uint16_t)divisor;
}

void xv_pit_stop(void) { xv_pic_mask(XV_IRQ_PIT); }
