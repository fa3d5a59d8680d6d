// Test support: minimal multiboot (or deliberately broken) ELF32 kernels
// built in memory, for loader and command-line tests.
#ifndef EXTRAVIRT_MACHINE_TEST_KERNEL_BUILDER_H_
#define EXTRAVIRT_MACHINE_TEST_KERNEL_BUILDER_H_

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace xv {

// Builds a minimal ELF32 kernel: one PT_LOAD at `paddr` holding a multiboot
// header (unless disabled) followed by `payload`, plus `bss` zero bytes.
struct ElfBuilder {
  uint32_t paddr = 0x100000;
  uint32_t vaddr = 0x100000;
  bool multiboot = true;
  uint32_t mb_flags = 0x3;
  bool bad_checksum = false;
  std::vector<uint8_t> payload = {0xf4};
  uint32_t bss = 0;
  uint32_t entry_offset = 12;  // default: just after the header

  std::vector<uint8_t> Build() const {
    std::vector<uint8_t> seg;
    if (multiboot) {
      uint32_t magic = 0x1BADB002;
      uint32_t sum = 0u - magic - mb_flags + (bad_checksum ? 1 : 0);
      for (uint32_t w : {magic, mb_flags, sum}) {
        for (int i = 0; i < 4; ++i)
          seg.push_back(static_cast<uint8_t>(w >> (8 * i)));
      }
    }
    seg.insert(seg.end(), payload.begin(), payload.end());
    Elf32_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = EM_386;
    eh.e_version = EV_CURRENT;
    eh.e_entry = vaddr + entry_offset;
    eh.e_phoff = sizeof(Elf32_Ehdr);
    eh.e_ehsize = sizeof(Elf32_Ehdr);
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = 1;
    Elf32_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_offset = 0x100;
    ph.p_vaddr = vaddr;
    ph.p_paddr = paddr;
    ph.p_filesz = static_cast<uint32_t>(seg.size());
    ph.p_memsz = static_cast<uint32_t>(seg.size()) + bss;
    ph.p_flags = PF_R | PF_X;
    std::vector<uint8_t> out(0x100 + seg.size(), 0);
    std::memcpy(out.data(), &eh, sizeof eh);
    std::memcpy(out.data() + sizeof eh, &ph, sizeof ph);
    std::memcpy(out.data() + 0x100, seg.data(), seg.size());
    return out;
  }
};

}  // namespace xv

#endif  // EXTRAVIRT_MACHINE_TEST_KERNEL_BUILDER_H_
