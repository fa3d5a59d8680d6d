// -finstrument-functions hooks for guest_kernel(auto_vro = True): a
// voluntary rendezvous every XV_AUTO_VRO_CALLS function entries, so that a
// long computation still reaches points where the VMM can inject interrupts.
#include <stdint.h>

#include "xv/vro.h"

static uint32_t calls_until_vro = XV_AUTO_VRO_CALLS;

__attribute__((no_instrument_function)) void __cyg_profile_func_enter(
    void* fn, void* call_site) {
  (void)fn;
  (void)call_site;
  if (--calls_until_vro == 0) {
    calls_until_vro = XV_AUTO_VRO_CALLS;
    xv_vro();
  }
}

__attribute__((no_instrument_function)) void __cyg_profile_func_exit(
    void* fn, void* call_site) {
  (void)fn;
  (void)call_site;
}
