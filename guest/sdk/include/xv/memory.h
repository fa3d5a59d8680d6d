// Guest RAM from the multiboot memory map. Everything from 0 to 4 GiB is
// identity-mapped with 2 MiB pages that CPL3 may use, so a pointer is a
// physical address. Free memory starts after the kernel image and the boot
// loader's data; xv_alloc() hands it out and never frees.
#ifndef XV_MEMORY_H_
#define XV_MEMORY_H_

#include <stddef.h>
#include <stdint.h>

// Total RAM the loader reported (lower + upper memory), in bytes.
uint64_t xv_ram_bytes(void);
// Bytes xv_alloc() can still hand out (ignoring alignment).
uint64_t xv_free_bytes(void);
// `align` must be a power of two. Returns NULL when memory runs out.
void* xv_alloc(size_t size, size_t align);

#endif  // XV_MEMORY_H_
