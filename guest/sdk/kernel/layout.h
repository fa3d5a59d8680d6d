// Fixed addresses and selectors shared by the kernel's assembly and the
// linker script (which is run through the C preprocessor).
//
// The IDT and the GDT's TSS descriptor are built at assembly time, so that
// boot runs no loop at CPL0 (emulated under PVM). Descriptors split handler
// and TSS addresses into bit fields, which no ELF relocation can express; so
// the TSS and the interrupt entry stubs live in one section at a fixed
// address (XV_FIXED_ADDR), the stubs at fixed offsets, and the descriptors
// are plain constants. The linker script asserts the section lands there.
#ifndef XV_KERNEL_LAYOUT_H_
#define XV_KERNEL_LAYOUT_H_

#define XV_LOAD_ADDR 0x100000   // Where the multiboot image starts (1 MiB).
#define XV_FIXED_ADDR 0x101000  // The .xv_fixed section.

// Offsets inside .xv_fixed.
#define XV_FIXED_EXCEPTION_STUBS 0x000  // 32 stubs of 16 bytes, vectors 0-31.
#define XV_FIXED_IRQ_STUBS 0x200        // 16 stubs of 16 bytes, IRQ 0-15.
#define XV_FIXED_SYSCALL_ENTRY 0x300    // Vector 0x80 (int $0x80).
#define XV_FIXED_TSS 0x1000             // TSS and its I/O permission bitmap.
#define XV_STUB_SIZE 16

// The 64-bit TSS (104 bytes) is followed by an I/O permission bitmap that
// allows every port (8192 zero bytes, then the 0xff terminator). PVM runs
// guest CPL3 at hardware IOPL 0 and forgets the guest's IOPL, so its
// emulation of a CPL3 `in`/`out` consults this bitmap; elsewhere IOPL=3
// already allows the access.
#define XV_TSS_SIZE 104
#define XV_IO_BITMAP_SIZE 8192
#define XV_TSS_ADDR (XV_FIXED_ADDR + XV_FIXED_TSS)
#define XV_TSS_LIMIT (XV_TSS_SIZE + XV_IO_BITMAP_SIZE)  // Includes 0xff.

// GDT layout follows the SYSCALL/SYSRET convention (user data right below
// user code), though `syscall` is no way into CPL0 under PVM (it jumps to
// MSR_LSTAR and stays at CPL3).
#define XV_SEL_KERNEL_CODE 0x08
#define XV_SEL_KERNEL_DATA 0x10
#define XV_SEL_USER_DATA 0x18
#define XV_SEL_USER_CODE 0x20
#define XV_SEL_TSS 0x28  // 16-byte descriptor.

#define XV_KERNEL_STACK_SIZE 16384
#define XV_DOUBLE_FAULT_STACK_SIZE 4096
#define XV_USER_STACK_SIZE (256 * 1024)

#endif  // XV_KERNEL_LAYOUT_H_
