/* Linker script for guest kernels (run through the C preprocessor).
 * The image is linked as ELF64 at 1 MiB and converted to ELF32 afterwards,
 * because multiboot loaders (QEMU's included) only take 32-bit ELF files. */
#include "layout.h"

OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(xv_multiboot_entry)

PHDRS {
  image PT_LOAD FLAGS(7);
}

SECTIONS {
  . = XV_LOAD_ADDR;
  .boot : {
    /* The multiboot header must sit in the first 8 KiB of the file. */
    KEEP(*(.multiboot))
    KEEP(*(.boot.text))
  } :image

  .xv_fixed XV_FIXED_ADDR : {
    KEEP(*(.xv_fixed))
  } :image

  .text : { *(.text .text.*) } :image
  .rodata : { *(.rodata .rodata.*) } :image
  .data : {
    KEEP(*(.data.page_tables))
    *(.data .data.*)
  } :image
  .bss : {
    *(.bss .bss.*)
    *(COMMON)
  } :image
  . = ALIGN(4096);
  xv_image_end = .;

  /DISCARD/ : {
    *(.eh_frame .eh_frame_hdr .note .note.* .comment)
  }
}

ASSERT(xv_fixed_start == XV_FIXED_ADDR, "interrupt stubs are not at XV_FIXED_ADDR")
ASSERT(xv_fixed_end - xv_fixed_start <= 0x10000, ".xv_fixed outgrew its 64 KiB")
