// printf-style formatting without libc. Supports %d %i %u %x %X %o %s %c %p
// %%, the length modifiers hh h l ll z j t, the flags '-' '0' '+' ' ', a
// field width and a precision (both may be '*'). No floating point.
#ifndef XV_FORMAT_H_
#define XV_FORMAT_H_

#include <stdarg.h>
#include <stddef.h>

// Receives formatted output in pieces.
typedef void (*xv_format_sink)(void* ctx, const char* data, size_t length);

// Returns the number of characters produced.
size_t xv_vformat(xv_format_sink sink, void* ctx, const char* format,
                  va_list args);

// Like C's snprintf: always NUL-terminates (if size > 0) and returns the
// length the full output would have had.
int xv_snprintf(char* buf, size_t size, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
int xv_vsnprintf(char* buf, size_t size, const char* format, va_list args);

#endif  // XV_FORMAT_H_
