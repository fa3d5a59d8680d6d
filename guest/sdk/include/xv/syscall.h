// System calls into the CPL0 guest kernel: `int $0x80`, number in rax,
// arguments in rdi and rsi, result in rax. The kernel may clobber every
// caller-saved register (it can call a C function), so the wrappers say so.
//
// On QEMU and real hardware the instruction goes through a DPL=3 interrupt
// gate (vector XV_VECTOR_SYSCALL). PVM instead raises #UD at the `int`; the
// kernel's #UD entry recognises the instruction and runs the same system
// call (`syscall` is no alternative: under PVM it stays at CPL3).
//
// This header is also included by the kernel's assembly (numbers only).
#ifndef XV_SYSCALL_H_
#define XV_SYSCALL_H_

#define XV_VECTOR_SYSCALL 0x80

// Sleeps (sti; hlt at CPL0) until the next interrupt, unless the total
// interrupt count already differs from arg0: see xv_wait_for_interrupt().
#define XV_SYS_WAIT 0
// Calls arg0(arg1) at CPL0 with interrupts disabled and returns its result.
// For test guests and benchmarks only (CPL0 code is emulated under PVM).
#define XV_SYS_RUN_CPL0 1

// Returned for an unknown system call number.
#define XV_SYS_ENOSYS (-1)

#ifndef __ASSEMBLER__
#include <stdint.h>

static inline uint64_t xv_syscall2(uint64_t number, uint64_t arg0,
                                   uint64_t arg1) {
  uint64_t result = number;
  __asm__ volatile("int $0x80"
                   : "+a"(result), "+D"(arg0), "+S"(arg1)
                   :
                   : "rcx", "rdx", "r8", "r9", "r10", "r11", "memory", "cc");
  return result;
}

// A function run at CPL0 by xv_run_cpl0(). It must be built from a
// `cpl0_srcs` file of guest_kernel() (general registers only, no red zone):
// CPL0 code must never touch SSE state, and it runs on the kernel stack.
typedef uint64_t (*xv_cpl0_fn)(uint64_t arg);

static inline uint64_t xv_run_cpl0(xv_cpl0_fn fn, uint64_t arg) {
  return xv_syscall2(XV_SYS_RUN_CPL0, (uint64_t)(uintptr_t)fn, arg);
}

#endif  // __ASSEMBLER__
#endif  // XV_SYSCALL_H_
