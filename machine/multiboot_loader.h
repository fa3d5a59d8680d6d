// Multiboot v1 loader: places a kernel in guest memory exactly as
// `qemu-system-x86_64 -kernel` does (ELF32/ELF64 PT_LOAD segments at their
// physical addresses, or the a.out-kludge address fields when header flag 16
// is set) and builds the multiboot information structure (memory map,
// command line, boot loader name).
#ifndef EXTRAVIRT_MACHINE_MULTIBOOT_LOADER_H_
#define EXTRAVIRT_MACHINE_MULTIBOOT_LOADER_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "memshare/guest_memory.h"

namespace xv {

inline constexpr uint32_t kMultibootBootloaderMagic = 0x2BADB002;

struct MultibootOptions {
  std::string cmdline;
  std::string bootloader_name = "xvirt";
};

struct LoadedKernel {
  uint32_t entry = 0;      // physical address, 32-bit protected mode
  uint32_t info_addr = 0;  // multiboot information (goes in EBX)
  uint64_t image_end = 0;  // one past the highest byte the kernel occupies
};

// Loads `image` (named `name` in errors) into `memory`. Fails with a
// one-line reason for anything QEMU would refuse or that cannot fit: not
// ELF, no multiboot header, bad checksum, unsupported required flags,
// segments outside the file or outside guest memory.
absl::StatusOr<LoadedKernel> LoadMultibootKernel(
    std::span<const uint8_t> image, std::string_view name,
    const MultibootOptions& options, GuestMemory& memory);

// Every check LoadMultibootKernel makes, against a guest memory of
// `memory_size` bytes, without one: a bad image is reported as such before
// any VM exists.
absl::Status ValidateMultibootKernel(std::span<const uint8_t> image,
                                     std::string_view name,
                                     const MultibootOptions& options,
                                     uint64_t memory_size);

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_MULTIBOOT_LOADER_H_
