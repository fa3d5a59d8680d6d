// The IDT, the TSS and every CPL0 entry point: exception stubs, IRQ
// handlers and the system call gate.
//
// All of this runs at CPL0, which PVM emulates, so the paths are a handful
// of instructions: an IRQ bumps two counters and returns (the PICs are in
// auto-EOI mode); a system call is a compare or two. Exceptions are fatal
// and may be slow (they print a report and end the VM).
#include "layout.h"
#include <xv/irq.h>
#include <xv/syscall.h>

// The exceptions for which the CPU pushes an error code:
// #DF #TS #NP #SS #GP #PF #AC #CP #VC #SX.
#define ERROR_CODE_VECTORS 8, 10, 11, 12, 13, 14, 17, 21, 29, 30

        .section .xv_fixed, "ax"
        .globl xv_fixed_start
xv_fixed_start:

// Exception stubs, one per vector at a fixed 16-byte slot. They make the
// frame uniform (error code, then vector) and go to the common path.
        .set    vector, 0
        .rept   32
        .org    XV_FIXED_EXCEPTION_STUBS + vector * XV_STUB_SIZE
        .if     vector == 6
        jmp     invalid_opcode
        .else
        .set    has_error_code, 0
        .irp    v, ERROR_CODE_VECTORS
        .if     vector == \v
        .set    has_error_code, 1
        .endif
        .endr
        .if     has_error_code == 0
        pushq   $0
        .endif
        pushq   $vector
        jmp     exception_common
        .endif
        .set    vector, vector + 1
        .endr

// IRQ handlers, one per line at a fixed 16-byte slot: exactly 16 bytes.
        .set    irq, 0
        .rept   16
        .org    XV_FIXED_IRQ_STUBS + irq * XV_STUB_SIZE
        incq    xv_irq_counts + 8 * irq(%rip)
        incq    xv_irq_total(%rip)
        iretq
        .set    irq, irq + 1
        .endr

// int $0x80 (interrupt gate: IF=0 on entry). See xv/syscall.h. The
// push/pop leaves in the stack slot below the frame what the #UD route
// (below) leaves there, so both routes end in the same memory.
        .org    XV_FIXED_SYSCALL_ENTRY
syscall_entry:
        pushq   %rax
        popq    %rax
        cmpl    $XV_SYS_WAIT, %eax
        jne     1f
        xorl    %eax, %eax
        cmpq    %rdi, xv_irq_total(%rip)
        jne     2f
        // The sti shadow covers hlt: an interrupt pending since before the
        // check above wakes the hlt instead of slipping in between.
        sti
        hlt
2:      iretq
1:      cmpl    $XV_SYS_RUN_CPL0, %eax
        jne     3f
        // The frame left rsp0 - 40: realign for the call.
        subq    $8, %rsp
        movq    %rdi, %rax
        movq    %rsi, %rdi
        call    *%rax
        addq    $8, %rsp
        iretq
3:      movq    $XV_SYS_ENOSYS, %rax
        iretq

// #UD. PVM does not deliver `int $0x80` from CPL3 through its gate: it
// raises #UD with RIP at the instruction. Such a #UD is a system call
// (interrupt gate: IF=0 as through the real gate); any other is fatal.
invalid_opcode:
        pushq   %rax
        movq    8(%rsp), %rax           // Faulting RIP.
        cmpw    $0x80cd, (%rax)         // int $0x80
        popq    %rax
        jne     1f
        addq    $2, (%rsp)              // Return past it, as the gate would,
        andq    $~0x10000, 16(%rsp)     // without the RF a fault pushes.
        jmp     syscall_entry
1:      pushq   $0
        pushq   $6
        jmp     exception_common

exception_common:
        pushq   %rax
        pushq   %rbx
        pushq   %rcx
        pushq   %rdx
        pushq   %rsi
        pushq   %rdi
        pushq   %rbp
        pushq   %r8
        pushq   %r9
        pushq   %r10
        pushq   %r11
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        movq    %rsp, %rdi
        andq    $-16, %rsp
        call    xv_kernel_report_exception
        ud2

// 64-bit TSS. Only the stack pointers and the I/O bitmap matter: rsp0 for
// entries from CPL3, IST1 for #DF so a kernel stack overflow still gets
// reported.
        .org    XV_FIXED_TSS
xv_tss:
        .long   0
        .quad   xv_kernel_stack_top     // rsp0
        .quad   0, 0                    // rsp1, rsp2
        .quad   0
        .quad   xv_double_fault_stack_top  // ist1
        .quad   0, 0, 0, 0, 0, 0        // ist2-7
        .quad   0
        .word   0
        .word   XV_TSS_SIZE             // I/O map base: right after.
        .fill   XV_IO_BITMAP_SIZE, 1, 0 // Every port allowed (see layout.h).
        .byte   0xff

        .globl xv_fixed_end
xv_fixed_end:

// The IDT: exceptions, IRQs and the system call gate, all interrupt gates
// (IF=0 on entry) into the fixed stubs above.
#define GATE_LOW(target) .word (target) & 0xffff; .word XV_SEL_KERNEL_CODE
#define GATE_HIGH(target) .word ((target) >> 16) & 0xffff; .long 0; .long 0
        .data
        .balign 16
xv_idt:
        .set    vector, 0
        .rept   32
        GATE_LOW(XV_FIXED_ADDR + XV_FIXED_EXCEPTION_STUBS + vector * XV_STUB_SIZE)
        .if     vector == 8
        .byte   1               // IST1 for #DF.
        .else
        .byte   0
        .endif
        .if     vector == 3
        .byte   0xee            // #BP: DPL3, so int3 at CPL3 reports #BP.
        .else
        .byte   0x8e            // Present, DPL0, 64-bit interrupt gate.
        .endif
        GATE_HIGH(XV_FIXED_ADDR + XV_FIXED_EXCEPTION_STUBS + vector * XV_STUB_SIZE)
        .set    vector, vector + 1
        .endr
        .set    irq, 0
        .rept   16
        GATE_LOW(XV_FIXED_ADDR + XV_FIXED_IRQ_STUBS + irq * XV_STUB_SIZE)
        .byte   0
        .byte   0x8e
        GATE_HIGH(XV_FIXED_ADDR + XV_FIXED_IRQ_STUBS + irq * XV_STUB_SIZE)
        .set    irq, irq + 1
        .endr
        // Vectors 0x30-0x7f are not present (an interrupt there is reported
        // as #NP naming the vector in its error code).
        .fill   (XV_VECTOR_SYSCALL - XV_VECTOR_IRQ_BASE - 16) * 16, 1, 0
        GATE_LOW(XV_FIXED_ADDR + XV_FIXED_SYSCALL_ENTRY)
        .byte   0
        .byte   0xee            // Present, DPL3: callable from CPL3.
        GATE_HIGH(XV_FIXED_ADDR + XV_FIXED_SYSCALL_ENTRY)
xv_idt_end:

        .balign 8
        .word   0, 0, 0
        .globl xv_idt_pointer
xv_idt_pointer:
        .word   xv_idt_end - xv_idt - 1
        .quad   xv_idt

        .bss
        .balign 64
        .globl xv_irq_counts, xv_irq_total
xv_irq_counts:
        .skip   8 * XV_IRQ_COUNT
xv_irq_total:
        .skip   8

        .section .note.GNU-stack, "", @progbits
