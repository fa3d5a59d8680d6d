// Ending the VM through isa-debug-exit (port 0xf4). A 32-bit write of v ends
// the VM: xvirt exits with v, QEMU with (v << 1) | 1, so only 0..127 survive
// QEMU's 8-bit exit status.
#ifndef XV_EXIT_H_
#define XV_EXIT_H_

#include <stdint.h>

#define XV_DEBUG_EXIT_PORT 0xf4

// Exit codes shared by every guest.
#define XV_EXIT_SUCCESS 0
#define XV_EXIT_FAILURE 1        // The workload's own check failed.
#define XV_EXIT_USAGE 2          // Bad command-line option.
#define XV_EXIT_NO_DEVICE 3      // A device the workload needs is missing.
#define XV_EXIT_PANIC 0x3e       // xv_panic(): the SDK or workload gave up.
#define XV_EXIT_BOOT_ERROR 0x3f  // Not booted the multiboot way.
// An exception ends the guest with XV_EXIT_EXCEPTION_BASE + vector
// (0x40..0x5f), e.g. 0x4e for a page fault.
#define XV_EXIT_EXCEPTION_BASE 0x40

_Noreturn void xv_exit(uint32_t code);

#endif  // XV_EXIT_H_
