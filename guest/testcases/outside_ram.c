// Reads guest-physical 0xC0000000, which is outside RAM for every --mem
// (at most 3072 MiB) but inside the SDK's identity map: a PC has nothing
// there. For VMM tests of an access no device claims: KVM reports it as
// MMIO, which xvirt answers like an unassigned address (all ones) and the
// guest runs on; the emulator backend has no MMIO exits and stops the run.
#include "xv/xv.h"

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  xv_puts("outside_ram: reading guest-physical 0xc0000000");
  const uint32_t value = *(volatile const uint32_t*)(uintptr_t)0xc0000000u;
  xv_printf("outside_ram: read 0x%x\n", value);
  return value == 0xffffffffu ? XV_EXIT_SUCCESS : XV_EXIT_FAILURE;
}
