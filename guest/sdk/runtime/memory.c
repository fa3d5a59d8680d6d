// Free RAM after the kernel image, handed out by a bump allocator.
#include "xv/memory.h"

#include <stdint.h>

#include "multiboot.h"
#include "xv/panic.h"
#include "xv/string.h"

// End of the kernel image including .bss (kernel.ld.S).
extern char xv_image_end[];

// The identity map ends at 4 GiB.
#define MAPPED_LIMIT (4ull << 30)
#define ONE_MIB (1ull << 20)

static uint64_t ram_bytes;
static uint64_t next_free;
static uint64_t free_end;

static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

// The loader's structures (info, command line, memory map) may sit right
// after the image (QEMU puts them there): free memory starts past them.
static uint64_t end_of_boot_data(const struct multiboot_info* info) {
  uint64_t end = (uintptr_t)info + sizeof(*info);
  if (info->flags & MULTIBOOT_INFO_CMDLINE) {
    const char* line = (const char*)(uintptr_t)info->cmdline;
    end = max_u64(end, info->cmdline + strlen(line) + 1);
  }
  if (info->flags & MULTIBOOT_INFO_MMAP) {
    end = max_u64(end, (uint64_t)info->mmap_addr + info->mmap_length);
  }
  return end;
}

void xv_memory_init(const struct multiboot_info* info) {
  uint64_t start = (uintptr_t)xv_image_end;
  if ((uintptr_t)info >= start) start = max_u64(start, end_of_boot_data(info));
  start = (start + 4095) & ~4095ull;

  if (info->flags & MULTIBOOT_INFO_MMAP) {
    uint64_t addr = info->mmap_addr;
    uint64_t end = addr + info->mmap_length;
    while (addr < end) {
      const struct multiboot_mmap_entry* e =
          (const struct multiboot_mmap_entry*)(uintptr_t)addr;
      if (e->type == MULTIBOOT_MEMORY_AVAILABLE) {
        ram_bytes += e->len;
        if (e->addr <= start && start < e->addr + e->len) {
          free_end = e->addr + e->len;
        }
      }
      addr += e->size + 4;
    }
  } else if (info->flags & MULTIBOOT_INFO_MEMORY) {
    ram_bytes = (uint64_t)(info->mem_lower + info->mem_upper) * 1024;
    free_end = ONE_MIB + (uint64_t)info->mem_upper * 1024;
  }
  if (free_end > MAPPED_LIMIT) free_end = MAPPED_LIMIT;
  if (free_end < start) free_end = start;
  next_free = start;
}

uint64_t xv_ram_bytes(void) { return ram_bytes; }

uint64_t xv_free_bytes(void) { return free_end - next_free; }

void* xv_alloc(size_t size, size_t align) {
  if (align == 0 || (align & (align - 1)) != 0) {
    xv_panic("xv_alloc: alignment %zu is not a power of two", align);
  }
  uint64_t base = (next_free + align - 1) & ~(uint64_t)(align - 1);
  if (base > free_end || size > free_end - base) return NULL;
  next_free = base + size;
  return (void*)(uintptr_t)base;
}
