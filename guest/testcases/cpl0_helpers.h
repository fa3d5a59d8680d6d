// Functions the test guests run at CPL0 through xv_run_cpl0()
// (cpl0_helpers.S).
#ifndef XV_GUEST_TESTCASES_CPL0_HELPERS_H_
#define XV_GUEST_TESTCASES_CPL0_HELPERS_H_

#include <stdint.h>

// Loads an IDT with limit 0: the next exception or interrupt triple-faults.
uint64_t cpl0_load_empty_idt(uint64_t unused);
// Never returns (interrupts stay disabled).
uint64_t cpl0_spin_forever(uint64_t unused);
// `count` writes of 0 to port 0x80 (the VRO port).
uint64_t cpl0_vro_outs(uint64_t count);
// Raise an exception at CPL0.
uint64_t cpl0_raise_ud(uint64_t unused);
uint64_t cpl0_raise_gp(uint64_t unused);
uint64_t cpl0_raise_pf(uint64_t unused);
uint64_t cpl0_raise_de(uint64_t unused);
// One `rep outs` or `rep ins` as `op` says (a struct cpl0_string_io *);
// leaves RCX and RSI/RDI as the instruction left them in op->count and
// op->buf. cpl0_string_io_at_cpl3 is the same code called directly at CPL3.
struct cpl0_string_io {
  uint16_t port;
  uint16_t width;  // 1, 2 or 4
  uint32_t in;     // 0: rep outs from buf; 1: rep ins into buf
  void* buf;
  uint64_t count;
};
uint64_t cpl0_string_io(uint64_t op);
void cpl0_string_io_at_cpl3(struct cpl0_string_io* op);
// int3 at CPL0: PVM's emulator cannot execute it, so under PVM this is an
// emulation failure the VMM must report (elsewhere, #BP).
uint64_t cpl0_raise_bp(uint64_t unused);

#endif  // XV_GUEST_TESTCASES_CPL0_HELPERS_H_
