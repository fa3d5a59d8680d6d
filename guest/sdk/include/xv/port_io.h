// x86 port I/O. Workloads run at CPL3 with port access allowed (an
// all-ports TSS I/O bitmap; IOPL=0), so they use these directly. Under a VMM
// every access is a VM exit (about 60 us at CPL3 under PVM). String I/O
// (xvirt's rule, hypervisor/string_io.h, which is what KVM does): a `rep
// outs` is one exit per element, a `rep ins` one exit per batch of up to
// 1 KiB that stays within a page.
#ifndef XV_PORT_IO_H_
#define XV_PORT_IO_H_

#include <stddef.h>
#include <stdint.h>

static inline void xv_outb(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void xv_outw(uint16_t port, uint16_t value) {
  __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline void xv_outl(uint16_t port, uint32_t value) {
  __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port) : "memory");
}

static inline uint8_t xv_inb(uint16_t port) {
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}

static inline uint16_t xv_inw(uint16_t port) {
  uint16_t value;
  __asm__ volatile("inw %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}

static inline uint32_t xv_inl(uint16_t port) {
  uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port) : "memory");
  return value;
}

static inline void xv_outsb(uint16_t port, const void* buf, size_t count) {
  __asm__ volatile("rep outsb" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void xv_insl(uint16_t port, void* buf, size_t count) {
  __asm__ volatile("rep insl" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
}

// One exit per element: prefer the widest element the device takes.
static inline void xv_outsl(uint16_t port, const void* buf, size_t count) {
  __asm__ volatile("rep outsl" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void xv_insw(uint16_t port, void* buf, size_t count) {
  __asm__ volatile("rep insw" : "+D"(buf), "+c"(count) : "d"(port) : "memory");
}

static inline void xv_outsw(uint16_t port, const void* buf, size_t count) {
  __asm__ volatile("rep outsw" : "+S"(buf), "+c"(count) : "d"(port) : "memory");
}

#endif  // XV_PORT_IO_H_
