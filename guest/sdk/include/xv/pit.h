// 8254 PIT channel 0 (IRQ0), input clock 1193182 Hz.
#ifndef XV_PIT_H_
#define XV_PIT_H_

#include <stdint.h>

#define XV_PIT_INPUT_HZ 1193182u

// Programs channel 0 as a rate generator (mode 2) at about `hz` (19..1193182)
// and unmasks IRQ0. Returns the divisor used.
uint16_t xv_pit_start_periodic(uint32_t hz);
// Masks IRQ0 again.
void xv_pit_stop(void);

#endif  // XV_PIT_H_
