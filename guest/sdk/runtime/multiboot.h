// The parts of the multiboot v1 information structure the runtime reads.
#ifndef XV_RUNTIME_MULTIBOOT_H_
#define XV_RUNTIME_MULTIBOOT_H_

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u

#define MULTIBOOT_INFO_MEMORY (1u << 0)
#define MULTIBOOT_INFO_CMDLINE (1u << 2)
#define MULTIBOOT_INFO_MMAP (1u << 6)

#define MULTIBOOT_MEMORY_AVAILABLE 1

struct multiboot_info {
  uint32_t flags;
  uint32_t mem_lower;  // KiB below 1 MiB.
  uint32_t mem_upper;  // KiB above 1 MiB (up to the first hole).
  uint32_t boot_device;
  uint32_t cmdline;
  uint32_t mods_count;
  uint32_t mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length;
  uint32_t mmap_addr;
} __attribute__((packed));

// `size` does not count itself: the next entry is at +size+4.
struct multiboot_mmap_entry {
  uint32_t size;
  uint64_t addr;
  uint64_t len;
  uint32_t type;
} __attribute__((packed));

// Saved by boot.S from EAX and EBX.
extern uint32_t xv_boot_magic;
extern uint32_t xv_boot_info;

// Internal runtime set-up, called once by xv_runtime_start().
void xv_cmdline_init(const struct multiboot_info* info);
void xv_memory_init(const struct multiboot_info* info);

#endif  // XV_RUNTIME_MULTIBOOT_H_
