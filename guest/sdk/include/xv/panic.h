// Fatal errors: prints "guest: panic: <message>" and exits XV_EXIT_PANIC
// (or the given code).
#ifndef XV_PANIC_H_
#define XV_PANIC_H_

#include <stdint.h>

_Noreturn void xv_panic(const char* format, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void xv_fatal(uint32_t exit_code, const char* format, ...)
    __attribute__((format(printf, 2, 3)));

#endif  // XV_PANIC_H_
