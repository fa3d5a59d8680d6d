// The console is COM1 (the runtime initialises it before xv_main()).
// Output is sent in bursts of up to 16 bytes per THRE check, so a line costs
// a few exits per 16 characters rather than two per character.
#ifndef XV_CONSOLE_H_
#define XV_CONSOLE_H_

#include <stddef.h>

int xv_printf(const char* format, ...) __attribute__((format(printf, 1, 2)));
void xv_console_write(const char* data, size_t length);
// Writes `line` and a newline.
void xv_puts(const char* line);

#endif  // XV_CONSOLE_H_
