// Voluntary rendezvous (DESIGN.md §2): an `out` to port 0x80 that does
// nothing but exit to the VMM, giving it a point where it may inject pending
// interrupts and stop for a checkpoint. Insert one into long exit-free
// loops. QEMU ignores port 0x80 writes.
//
// guest_kernel(auto_vro = True) instead compiles the workload with
// -finstrument-functions and rendezvouses every XV_AUTO_VRO_CALLS calls.
#ifndef XV_VRO_H_
#define XV_VRO_H_

#include "xv/port_io.h"

#define XV_VRO_PORT 0x80
#define XV_AUTO_VRO_CALLS 4096

static inline void xv_vro(void) { xv_outb(XV_VRO_PORT, 0); }

#endif  // XV_VRO_H_
