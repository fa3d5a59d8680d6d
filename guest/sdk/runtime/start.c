// The first C code, at CPL3: console, boot information, then the workload.
#include <stdint.h>

#include "multiboot.h"
#include "xv/exit.h"
#include "xv/main.h"
#include "xv/panic.h"
#include "xv/uart.h"

_Noreturn void xv_runtime_start(void) {
  xv_uart_init();
  if (xv_boot_magic != MULTIBOOT_BOOTLOADER_MAGIC) {
    xv_fatal(XV_EXIT_BOOT_ERROR,
             "not started by a multiboot loader (EAX=0x%x, expected 0x%x)",
             xv_boot_magic, MULTIBOOT_BOOTLOADER_MAGIC);
  }
  const struct multiboot_info* info =
      (const struct multiboot_info*)(uintptr_t)xv_boot_info;
  xv_cmdline_init(info);
  xv_memory_init(info);
  int status = xv_main();
  xv_exit((uint32_t)status);
}
