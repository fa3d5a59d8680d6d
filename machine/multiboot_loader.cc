#include "machine/multiboot_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "absl/strings/str_format.h"

namespace xv {
namespace {

constexpr uint32_t kHeaderMagic = 0x1BADB002;
constexpr size_t kHeaderSearchBytes = 8192;
// Header flag bits 0-15 are requirements the loader must meet (spec 3.1.2).
constexpr uint32_t kFlagPageAlignModules = 1u << 0;
constexpr uint32_t kFlagMemoryInfo = 1u << 1;
constexpr uint32_t kFlagVideoMode = 1u << 2;
constexpr uint32_t kFlagAddressFields = 1u << 16;
constexpr uint32_t kSupportedRequiredFlags =
    kFlagPageAlignModules | kFlagMemoryInfo | kFlagVideoMode;

// multiboot_info.flags bits.
constexpr uint32_t kInfoMemory = 1u << 0;
constexpr uint32_t kInfoCmdline = 1u << 2;
constexpr uint32_t kInfoMemoryMap = 1u << 6;
constexpr uint32_t kInfoBootLoaderName = 1u << 9;
constexpr size_t kInfoSize = 128;  // multiboot_info incl. framebuffer fields
constexpr size_t kMaxCmdline = size_t{64} * 1024;

// Conventional PC memory map: low RAM up to the EBDA, the BIOS area.
constexpr uint64_t kLowRamEnd = 0x9fc00;
constexpr uint64_t kBiosStart = 0xf0000;
constexpr uint64_t kHighRamStart = 0x100000;

struct Segment {
  uint64_t paddr;
  uint64_t file_offset;
  uint64_t file_size;
  uint64_t mem_size;
};

struct Plan {
  std::vector<Segment> segments;
  uint64_t entry;
};

uint32_t Le32(std::span<const uint8_t> b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

template <typename T>
std::optional<T> ReadStruct(std::span<const uint8_t> image, uint64_t off) {
  if (off > image.size() || sizeof(T) > image.size() - off) return std::nullopt;
  T v;
  std::memcpy(&v, image.data() + off, sizeof(T));
  return v;
}

bool IsElf(std::span<const uint8_t> image) {
  return image.size() >= SELFMAG &&
         std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

template <typename Ehdr, typename Phdr>
absl::StatusOr<Plan> PlanElf(std::span<const uint8_t> image,
                             std::string_view name) {
  auto eh = ReadStruct<Ehdr>(image, 0);
  if (!eh)
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: truncated ELF header", name));
  if (eh->e_ident[EI_DATA] != ELFDATA2LSB) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: ELF is not little-endian", name));
  }
  if (eh->e_machine != EM_386 && eh->e_machine != EM_X86_64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: ELF machine %d is not x86 (EM_386 or EM_X86_64)",
                        name, eh->e_machine));
  }
  if (eh->e_phentsize != sizeof(Phdr) || eh->e_phnum == 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: ELF has no usable program headers", name));
  }
  Plan plan;
  plan.entry = eh->e_entry;
  std::optional<uint64_t> entry_paddr;
  for (int i = 0; i < eh->e_phnum; ++i) {
    auto ph = ReadStruct<Phdr>(
        image, eh->e_phoff + static_cast<uint64_t>(i) * sizeof(Phdr));
    if (!ph) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: program header %d lies outside the file", name, i));
    }
    if (ph->p_type != PT_LOAD || ph->p_memsz == 0) continue;
    if (ph->p_filesz > ph->p_memsz) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: segment %d has file size 0x%x larger than memory size 0x%x",
          name, i, ph->p_filesz, ph->p_memsz));
    }
    if (ph->p_offset > image.size() ||
        ph->p_filesz > image.size() - ph->p_offset) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: segment %d (file offset 0x%x, 0x%x bytes) lies "
                          "outside the file (%d bytes)",
                          name, i, ph->p_offset, ph->p_filesz, image.size()));
    }
    plan.segments.push_back(
        {ph->p_paddr, ph->p_offset, ph->p_filesz, ph->p_memsz});
    // A kernel linked at virtual addresses different from its load addresses
    // gives a virtual entry point; paging is off at entry, so translate it.
    if (eh->e_entry >= ph->p_vaddr && eh->e_entry - ph->p_vaddr < ph->p_memsz) {
      entry_paddr = ph->p_paddr + (eh->e_entry - ph->p_vaddr);
    }
  }
  if (plan.segments.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: ELF has no loadable segment", name));
  }
  if (!entry_paddr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: ELF entry point 0x%x is not inside any loadable segment", name,
        eh->e_entry));
  }
  plan.entry = *entry_paddr;
  return plan;
}

absl::StatusOr<Plan> PlanAddressFields(std::span<const uint8_t> image,
                                       size_t header_off,
                                       std::string_view name) {
  if (header_off + 32 > image.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: multiboot header address fields are truncated", name));
  }
  uint32_t header_addr = Le32(image, header_off + 12);
  uint32_t load_addr = Le32(image, header_off + 16);
  uint32_t load_end_addr = Le32(image, header_off + 20);
  uint32_t bss_end_addr = Le32(image, header_off + 24);
  uint32_t entry_addr = Le32(image, header_off + 28);
  if (header_addr < load_addr || header_addr - load_addr > header_off) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: multiboot header_addr 0x%x is inconsistent with load_addr 0x%x",
        name, header_addr, load_addr));
  }
  uint64_t file_offset = header_off - (header_addr - load_addr);
  uint64_t file_size = load_end_addr == 0 ? image.size() - file_offset
                                          : uint64_t{load_end_addr} - load_addr;
  if (load_end_addr != 0 && load_end_addr < load_addr) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: multiboot load_end_addr is below load_addr", name));
  }
  if (file_offset + file_size > image.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: multiboot load range needs 0x%x bytes but the file has only 0x%x",
        name, file_offset + file_size, image.size()));
  }
  uint64_t mem_size = file_size;
  if (bss_end_addr != 0) {
    if (bss_end_addr < load_addr + file_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: multiboot bss_end_addr is below the loaded image", name));
    }
    mem_size = uint64_t{bss_end_addr} - load_addr;
  }
  return Plan{{{load_addr, file_offset, file_size, mem_size}}, entry_addr};
}

// Where the multiboot info goes: just above the kernel, or else in low
// memory if it does not overlap the kernel.
absl::StatusOr<uint64_t> PlaceInfo(const std::vector<Segment>& segments,
                                   uint64_t image_end, uint64_t bytes,
                                   uint64_t mem_size) {
  auto overlaps = [&](uint64_t start) {
    return std::any_of(segments.begin(), segments.end(), [&](const Segment& s) {
      return start < s.paddr + s.mem_size && s.paddr < start + bytes;
    });
  };
  uint64_t above = (image_end + kPageSize - 1) & ~(kPageSize - 1);
  if (above + bytes <= mem_size && above + bytes <= UINT32_MAX) return above;
  if (0x1000 + bytes <= kLowRamEnd && !overlaps(0x1000))
    return uint64_t{0x1000};
  return absl::ResourceExhaustedError(
      absl::StrFormat("no room for the multiboot information (%d bytes) in "
                      "guest memory; use a larger "
                      "--mem",
                      bytes));
}

void Put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  std::memcpy(&b[off], &v, 4);
}
void Put64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
  std::memcpy(&b[off], &v, 8);
}

struct BootPlan {
  Plan plan;
  uint64_t image_end;
  uint64_t info_addr;
  std::vector<uint8_t> info;
};

// Everything but the writes: validates the image against a memory of
// `memory_size` bytes and lays out the multiboot information.
absl::StatusOr<BootPlan> PlanBoot(std::span<const uint8_t> image,
                                  std::string_view name,
                                  const MultibootOptions& options,
                                  uint64_t memory_size) {
  // Find the header: 4-byte aligned, within the first 8 KiB, valid checksum.
  std::optional<size_t> header_off;
  size_t limit = std::min(image.size(), kHeaderSearchBytes);
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    if (Le32(image, off) == kHeaderMagic &&
        Le32(image, off) + Le32(image, off + 4) + Le32(image, off + 8) == 0) {
      header_off = off;
      break;
    }
  }
  bool elf = IsElf(image);
  if (!header_off) {
    if (!elf) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: not a bootable kernel: neither an ELF file nor "
                          "a multiboot image",
                          name));
    }
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: ELF file without a multiboot header (the magic "
                        "0x1BADB002 with a valid "
                        "checksum must be in the first 8 KiB)",
                        name));
  }
  uint32_t flags = Le32(image, *header_off + 4);
  uint32_t unsupported = flags & 0xffff & ~kSupportedRequiredFlags;
  if (unsupported != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: multiboot header requires unsupported features (flags 0x%x)", name,
        unsupported));
  }

  absl::StatusOr<Plan> plan;
  if (flags & kFlagAddressFields) {
    plan = PlanAddressFields(image, *header_off, name);
  } else if (!elf) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: multiboot image is not ELF and its header has no "
                        "address fields (flag 16)",
                        name));
  } else if (image.size() > EI_CLASS && image[EI_CLASS] == ELFCLASS32) {
    plan = PlanElf<Elf32_Ehdr, Elf32_Phdr>(image, name);
  } else if (image.size() > EI_CLASS && image[EI_CLASS] == ELFCLASS64) {
    plan = PlanElf<Elf64_Ehdr, Elf64_Phdr>(image, name);
  } else {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: unknown ELF class", name));
  }
  if (!plan.ok()) return plan.status();

  uint64_t image_end = 0;
  for (const Segment& s : plan->segments) {
    uint64_t end = s.paddr + s.mem_size;
    if (end < s.paddr || end > memory_size) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s: kernel segment [0x%x, 0x%x) does not fit in "
                          "guest memory (%d MiB); the "
                          "guest needs at least %d MiB (--mem)",
                          name, s.paddr, end, memory_size >> 20,
                          ((end + (1 << 20) - 1) >> 20) + 1));
    }
    image_end = std::max(image_end, end);
  }
  if (std::none_of(
          plan->segments.begin(), plan->segments.end(), [&](const Segment& s) {
            return plan->entry >= s.paddr && plan->entry - s.paddr < s.mem_size;
          })) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: entry point 0x%x is outside the loaded image", name, plan->entry));
  }
  if (options.cmdline.size() > kMaxCmdline) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "kernel command line is longer than %d bytes", kMaxCmdline));
  }

  // Multiboot info: the structure, the memory map, the strings.
  struct MapEntry {
    uint64_t base, length;
    uint32_t type;  // 1 = available RAM, 2 = reserved
  };
  std::vector<MapEntry> map = {{0, kLowRamEnd, 1},
                               {kLowRamEnd, 0xa0000 - kLowRamEnd, 2},
                               {kBiosStart, kHighRamStart - kBiosStart, 2}};
  if (memory_size > kHighRamStart) {
    map.push_back({kHighRamStart, memory_size - kHighRamStart, 1});
  }
  const size_t map_off = kInfoSize;
  const size_t map_bytes = map.size() * 24;
  const size_t cmdline_off = map_off + map_bytes;
  const size_t name_off = cmdline_off + options.cmdline.size() + 1;
  const size_t total = name_off + options.bootloader_name.size() + 1;
  auto info_addr = PlaceInfo(plan->segments, image_end, total, memory_size);
  if (!info_addr.ok()) return info_addr.status();

  std::vector<uint8_t> info(total, 0);
  const uint32_t base = static_cast<uint32_t>(*info_addr);
  Put32(info, 0,
        kInfoMemory | kInfoCmdline | kInfoMemoryMap | kInfoBootLoaderName);
  Put32(info, 4, static_cast<uint32_t>(kLowRamEnd / 1024));
  uint64_t upper_kib =
      memory_size > kHighRamStart ? (memory_size - kHighRamStart) / 1024 : 0;
  Put32(info, 8,
        static_cast<uint32_t>(std::min<uint64_t>(upper_kib, UINT32_MAX)));
  Put32(info, 16, base + static_cast<uint32_t>(cmdline_off));
  Put32(info, 44, static_cast<uint32_t>(map_bytes));
  Put32(info, 48, base + static_cast<uint32_t>(map_off));
  Put32(info, 64, base + static_cast<uint32_t>(name_off));
  for (size_t i = 0; i < map.size(); ++i) {
    size_t off = map_off + i * 24;
    Put32(info, off, 20);  // size of the entry, not counting this field
    Put64(info, off + 4, map[i].base);
    Put64(info, off + 12, map[i].length);
    Put32(info, off + 20, map[i].type);
  }
  std::memcpy(&info[cmdline_off], options.cmdline.data(),
              options.cmdline.size());
  std::memcpy(&info[name_off], options.bootloader_name.data(),
              options.bootloader_name.size());
  return BootPlan{*std::move(plan), image_end, *info_addr, std::move(info)};
}

}  // namespace

absl::Status ValidateMultibootKernel(std::span<const uint8_t> image,
                                     std::string_view name,
                                     const MultibootOptions& options,
                                     uint64_t memory_size) {
  return PlanBoot(image, name, options, memory_size).status();
}

absl::StatusOr<LoadedKernel> LoadMultibootKernel(
    std::span<const uint8_t> image, std::string_view name,
    const MultibootOptions& options, GuestMemory& memory) {
  auto boot = PlanBoot(image, name, options, memory.size());
  if (!boot.ok()) return boot.status();
  for (const Segment& s : boot->plan.segments) {
    auto dst = memory.MutableSpan(s.paddr, s.mem_size);
    if (!dst.ok()) return dst.status();
    std::memcpy(dst->data(), image.data() + s.file_offset, s.file_size);
    std::memset(dst->data() + s.file_size, 0, s.mem_size - s.file_size);
  }

  if (absl::Status s = memory.Write(boot->info_addr, boot->info); !s.ok()) {
    return s;
  }
  return LoadedKernel{
      static_cast<uint32_t>(boot->plan.entry),
      static_cast<uint32_t>(boot->info_addr),
      std::max<uint64_t>(boot->image_end, boot->info_addr + boot->info.size())};
}

}  // namespace xv
