// CPL0 helpers for the test guests (see cpl0_helpers.h). Run through
// xv_run_cpl0(): System V calling convention, interrupts disabled.

        .text
        .globl cpl0_load_empty_idt
cpl0_load_empty_idt:
        lidt    empty_idt_pointer(%rip)
        xorl    %eax, %eax
        ret

        .globl cpl0_spin_forever
cpl0_spin_forever:
        jmp     cpl0_spin_forever

        .globl cpl0_vro_outs
cpl0_vro_outs:
        movq    %rdi, %rcx
        xorl    %eax, %eax
        testq   %rcx, %rcx
        jz      2f
1:      outb    %al, $0x80
        decq    %rcx
        jnz     1b
2:      movq    %rdi, %rax
        ret

        // struct cpl0_string_io: port @0 (u16), width @2 (u16), in @4
        // (u32), buf @8, count @16. Callable at either privilege level.
        .globl cpl0_string_io
        .globl cpl0_string_io_at_cpl3
cpl0_string_io:
cpl0_string_io_at_cpl3:
        movq    %rdi, %r8
        movzwl  0(%r8), %edx
        movzwl  2(%r8), %eax
        movq    16(%r8), %rcx
        cmpl    $0, 4(%r8)
        jne     .Lstring_in
        movq    8(%r8), %rsi
        cmpl    $1, %eax
        je      .Louts1
        cmpl    $2, %eax
        je      .Louts2
        rep outsl
        jmp     .Louts_done
.Louts1:
        rep outsb
        jmp     .Louts_done
.Louts2:
        rep outsw
.Louts_done:
        movq    %rsi, 8(%r8)
        movq    %rcx, 16(%r8)
        xorl    %eax, %eax
        ret
.Lstring_in:
        movq    8(%r8), %rdi
        cmpl    $1, %eax
        je      .Lins1
        cmpl    $2, %eax
        je      .Lins2
        rep insl
        jmp     .Lins_done
.Lins1:
        rep insb
        jmp     .Lins_done
.Lins2:
        rep insw
.Lins_done:
        movq    %rdi, 8(%r8)
        movq    %rcx, 16(%r8)
        xorl    %eax, %eax
        ret

        .globl cpl0_raise_ud
cpl0_raise_ud:
        ud2

        .globl cpl0_raise_gp
cpl0_raise_gp:
        // A non-canonical address.
        movabsq $0x8000000000000000, %rax
        movq    (%rax), %rax
        ret

        .globl cpl0_raise_pf
cpl0_raise_pf:
        // Past the 4 GiB identity map: not present.
        movabsq $0x100000000, %rax
        movq    (%rax), %rax
        ret

        .globl cpl0_raise_de
cpl0_raise_de:
        xorl    %ecx, %ecx
        xorl    %edx, %edx
        movl    $1, %eax
        divl    %ecx
        ret

        .globl cpl0_raise_bp
cpl0_raise_bp:
        int3
        ret

        .section .rodata
        .balign 8
        .word   0, 0, 0
empty_idt_pointer:
        .word   0
        .quad   0

        .section .note.GNU-stack, "", @progbits
