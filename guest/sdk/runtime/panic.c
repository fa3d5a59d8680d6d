#include "xv/panic.h"

#include <stdarg.h>

#include "xv/console.h"
#include "xv/exit.h"
#include "xv/format.h"

static _Noreturn void report(uint32_t exit_code, const char* prefix,
                             const char* format, va_list args) {
  char message[256];
  xv_vsnprintf(message, sizeof(message), format, args);
  xv_printf("guest: %s%s\n", prefix, message);
  xv_exit(exit_code);
}

void xv_panic(const char* format, ...) {
  va_list args;
  va_start(args, format);
  report(XV_EXIT_PANIC, "panic: ", format, args);
}

void xv_fatal(uint32_t exit_code, const char* format, ...) {
  va_list args;
  va_start(args, format);
  report(exit_code, "", format, args);
}
