// memcpy and friends. Built for CPL0 (general registers only) because
// both privilege levels call them; `rep movsb`/`rep stosb` are fast on
// CPUs with ERMS and short to emulate.
#define XV_STRING_DEFINE_FUNCTIONS
#include "xv/string.h"

#include <stdint.h>

void* memcpy(void* dst, const void* src, size_t n) {
  void* ret = dst;
  __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
  return ret;
}

void* memset(void* dst, int c, size_t n) {
  void* ret = dst;
  __asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
  return ret;
}

void* memmove(void* dst, const void* src, size_t n) {
  if ((uintptr_t)dst - (uintptr_t)src >= n) return memcpy(dst, src, n);
  // Overlapping with dst above src: copy backwards.
  unsigned char* d = (unsigned char*)dst + n;
  const unsigned char* s = (const unsigned char*)src + n;
  while (n-- > 0) *--d = *--s;
  return dst;
}

int memcmp(const void* a, const void* b, size_t n) {
  const unsigned char* x = a;
  const unsigned char* y = b;
  for (size_t i = 0; i < n; i++) {
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return 0;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n] != '\0') n++;
  return n;
}

size_t strnlen(const char* s, size_t max) {
  size_t n = 0;
  while (n < max && s[n] != '\0') n++;
  return n;
}

int strcmp(const char* a, const char* b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char* a, const char* b, size_t n) {
  for (; n > 0; n--, a++, b++) {
    if (*a != *b) return (unsigned char)*a - (unsigned char)*b;
    if (*a == '\0') return 0;
  }
  return 0;
}

char* strchr(const char* s, int c) {
  for (;; s++) {
    if (*s == (char)c) return (char*)s;
    if (*s == '\0') return 0;
  }
}
