// Mask changes of the 8259A pair, with the masks boot.S programmed
// shadowed here so a change is one `out`.
#include "xv/pic.h"

#include <stdint.h>

#include "xv/irq.h"
#include "xv/port_io.h"

#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA 0xa1

// Matches boot.S: all masked but the cascade (IRQ2).
static uint16_t masks = 0xfffb;

static void write_masks(unsigned irq) {
  if (irq < 8) {
    xv_outb(PIC_MASTER_DATA, (uint8_t)masks);
  } else {
    xv_outb(PIC_SLAVE_DATA, (uint8_t)(masks >> 8));
  }
}

void xv_pic_unmask(unsigned irq) {
  if (irq >= XV_IRQ_COUNT || !(masks & (1u << irq))) return;
  masks &= (uint16_t) ~(1u << irq);
  write_masks(irq);
}

void xv_pic_mask(unsigned irq) {
  if (irq >= XV_IRQ_COUNT || irq == XV_IRQ_CASCADE || (masks & (1u << irq))) {
    return;
  }
  masks |= (uint16_t)(1u << irq);
  write_masks(irq);
}
