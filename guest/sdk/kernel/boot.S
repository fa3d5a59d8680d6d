// Multiboot v1 entry: 32-bit protected mode, paging off, EAX=0x2BADB002,
// EBX=multiboot info. Switches to long mode with static page tables and a
// static GDT/IDT/TSS, programs the PICs and drops to the workload at CPL3.
//
// CPL0 code is emulated under PVM (about 1 us an instruction, an `out`
// about 9 us), so the path is straight-line: no loops, nothing computed
// that the assembler or linker can compute instead.
#include "layout.h"

#define MULTIBOOT_HEADER_MAGIC 0x1BADB002
// Bit 0: page-align modules. Bit 1: provide the memory map. The load
// addresses come from the ELF headers (no a.out kludge).
#define MULTIBOOT_HEADER_FLAGS 0x00000003

#define CR0_PE (1 << 0)
#define CR0_MP (1 << 1)
#define CR0_ET (1 << 4)
#define CR0_NE (1 << 5)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xc0000080
#define EFER_LME (1 << 8)

// IF and the always-one bit, IOPL=0: the workload does port I/O itself,
// allowed by the TSS I/O bitmap (layout.h) on every CPU — hardware, QEMU,
// the emulator backend and PVM, which runs CPL3 at IOPL 0 whatever the
// guest asks and would otherwise leave it with another RFLAGS than the
// architecture's. It never executes `sti` (it faults at CPL3 under PVM).
#define USER_RFLAGS 0x0202

#define UART_FCR 0x3fa
#define UART_FCR_ENABLE_TRIGGER_1 0x01

#define PTE_PRESENT 0x1
#define PTE_WRITABLE 0x2
#define PTE_USER 0x4
#define PTE_LARGE 0x80

        .section .multiboot, "a"
        .balign 4
        .long MULTIBOOT_HEADER_MAGIC
        .long MULTIBOOT_HEADER_FLAGS
        .long -(MULTIBOOT_HEADER_MAGIC + MULTIBOOT_HEADER_FLAGS)

        .section .boot.text, "ax"
        .code32
        .globl xv_multiboot_entry
xv_multiboot_entry:
        movl    %eax, xv_boot_magic
        movl    %ebx, xv_boot_info
        // COM1 FIFOs on (RX interrupt at 1 byte), as the guest's first I/O:
        // turning them on flushes the receiver, so doing it before any
        // other exit loses no input a VMM applies after exits. The UART
        // driver keeps this setting without flushing again.
        movw    $UART_FCR, %dx
        movb    $UART_FCR_ENABLE_TRIGGER_1, %al
        outb    %al, %dx
        movl    $xv_pml4, %eax
        movl    %eax, %cr3
        movl    $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
        movl    %eax, %cr4
        movl    $MSR_EFER, %ecx
        movl    $EFER_LME, %eax
        xorl    %edx, %edx
        wrmsr
        // EM=0 and MP=1 so CPL3 code may use SSE.
        movl    $(CR0_PG | CR0_NE | CR0_ET | CR0_MP | CR0_PE), %eax
        movl    %eax, %cr0
        lgdt    xv_gdt_pointer
        ljmp    $XV_SEL_KERNEL_CODE, $long_mode_entry

        .code64
long_mode_entry:
        movl    $XV_SEL_KERNEL_DATA, %eax
        movl    %eax, %ss
        // User data in DS/ES/FS/GS: valid at both privilege levels, so the
        // return to CPL3 leaves them alone.
        movl    $(XV_SEL_USER_DATA | 3), %eax
        movl    %eax, %ds
        movl    %eax, %es
        movl    %eax, %fs
        movl    %eax, %gs
        movl    $XV_SEL_TSS, %eax
        ltr     %ax
        lidt    xv_idt_pointer
        movq    $xv_kernel_stack_top, %rsp

        // 8259A pair: ICW1 edge-triggered, cascade, ICW4 follows; ICW2
        // vectors 0x20/0x28; ICW3 slave on IRQ2; ICW4 8086 mode + auto-EOI
        // (handlers then need no EOI write, an exit each).
        movb    $0x11, %al
        outb    %al, $0x20
        outb    %al, $0xa0
        movb    $0x20, %al
        outb    %al, $0x21
        movb    $0x28, %al
        outb    %al, $0xa1
        movb    $0x04, %al
        outb    %al, $0x21
        movb    $0x02, %al
        outb    %al, $0xa1
        movb    $0x03, %al
        outb    %al, $0x21
        outb    %al, $0xa1
        // Masks: everything but the cascade; drivers unmask their line.
        movb    $0xfb, %al
        outb    %al, $0x21
        movb    $0xff, %al
        outb    %al, $0xa1

        pushq   $(XV_SEL_USER_DATA | 3)
        pushq   $xv_user_stack_top
        pushq   $USER_RFLAGS
        pushq   $(XV_SEL_USER_CODE | 3)
        pushq   $xv_user_entry
        iretq

        .text
// First CPL3 instruction. The stack top is 16-byte aligned, so after the
// call the C code sees the alignment the ABI promises.
xv_user_entry:
        call    xv_runtime_start
        ud2

        .data
        .balign 4
        .globl xv_boot_magic, xv_boot_info
xv_boot_magic:
        .long   0
xv_boot_info:
        .long   0

// The descriptors start with their accessed bit set, so that no CPU ever
// writes it: hardware sets it on the first load, PVM does not for the
// user segments, and a guest whose GDT bytes depend on the CPU would not
// have the same state on every backend.
        .balign 8
xv_gdt:
        .quad   0
        .quad   0x00209b0000000000      // Kernel code: 64-bit, DPL0.
        .quad   0x00cf93000000ffff      // Kernel data: flat, DPL0.
        .quad   0x00cff3000000ffff      // User data: flat, DPL3.
        .quad   0x0020fb0000000000      // User code: 64-bit, DPL3.
        // 64-bit available TSS at the fixed address (see layout.h).
        .word   XV_TSS_LIMIT
        .word   XV_TSS_ADDR & 0xffff
        .byte   (XV_TSS_ADDR >> 16) & 0xff
        .byte   0x89
        .byte   0
        .byte   (XV_TSS_ADDR >> 24) & 0xff
        .long   0
        .long   0
xv_gdt_end:

        .balign 8
        .word   0       // Aligns the base (CPUs read it faster).
xv_gdt_pointer:
        .word   xv_gdt_end - xv_gdt - 1
        .quad   xv_gdt

// Identity map of 0-4 GiB with 2 MiB pages, user-accessible and writable,
// built by the assembler rather than a CPL0 loop.
        .section .data.page_tables, "aw"
        .balign 4096
xv_pml4:
        .quad   xv_pdpt + (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
        .fill   511, 8, 0
xv_pdpt:
        .quad   xv_page_directories + 0 * 4096 + (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
        .quad   xv_page_directories + 1 * 4096 + (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
        .quad   xv_page_directories + 2 * 4096 + (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
        .quad   xv_page_directories + 3 * 4096 + (PTE_PRESENT | PTE_WRITABLE | PTE_USER)
        .fill   508, 8, 0
xv_page_directories:
        .set    page, 0
        .rept   2048
        .quad   (page << 21) | (PTE_PRESENT | PTE_WRITABLE | PTE_USER | PTE_LARGE)
        .set    page, page + 1
        .endr

        .bss
        .balign 16
xv_kernel_stack:
        .skip   XV_KERNEL_STACK_SIZE
        .globl  xv_kernel_stack_top
xv_kernel_stack_top:
        .balign 16
        .skip   XV_DOUBLE_FAULT_STACK_SIZE
        .globl  xv_double_fault_stack_top
xv_double_fault_stack_top:
        .balign 16
        .skip   XV_USER_STACK_SIZE
xv_user_stack_top:

        .section .note.GNU-stack, "", @progbits
