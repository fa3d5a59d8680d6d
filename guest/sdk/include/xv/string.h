// The C string functions the SDK provides. gcc emits calls to memcpy,
// memset, memmove and memcmp even in freestanding code, so they exist under
// their standard names. They use general registers only and are safe at CPL0.
#ifndef XV_STRING_H_
#define XV_STRING_H_

#include <stddef.h>

void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
void* memmove(void* dst, const void* src, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
size_t strnlen(const char* s, size_t max);
int strcmp(const char* a, const char* b);
int strncmp(const char* a, const char* b, size_t n);
char* strchr(const char* s, int c);

// -ffreestanding turns off the builtins; these let gcc inline small,
// constant-size copies again (it still calls the functions above otherwise).
#ifndef XV_STRING_DEFINE_FUNCTIONS
#define memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define memset(d, c, n) __builtin_memset((d), (c), (n))
#define memmove(d, s, n) __builtin_memmove((d), (s), (n))
#define memcmp(a, b, n) __builtin_memcmp((a), (b), (n))
#define strlen(s) __builtin_strlen((s))
#endif

#endif  // XV_STRING_H_
