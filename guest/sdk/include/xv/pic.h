// The 8259A pair. The kernel programs it at boot (vectors 0x20-0x2f,
// edge-triggered, auto-EOI) with every line masked except the cascade; a
// driver unmasks the line it uses. The masks are shadowed in memory so that
// changing one costs a single port write.
#ifndef XV_PIC_H_
#define XV_PIC_H_

void xv_pic_unmask(unsigned irq);
void xv_pic_mask(unsigned irq);

#endif  // XV_PIC_H_
