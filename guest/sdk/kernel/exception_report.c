// Fatal exception report, at CPL0: one line on COM1, then debug-exit with
// XV_EXIT_EXCEPTION_BASE + vector. Built with general registers only, and
// self-contained (no calls into CPL3-built code, which may use SSE).
#include <stdbool.h>
#include <stdint.h>

#include "xv/exit.h"
#include "xv/port_io.h"
#include "xv/uart.h"

// Pushed by interrupts.S: general registers (r15 last), the vector and
// error code the stub pushed, then the CPU's interrupt frame.
struct exception_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
};

// Set by the console when the last byte it sent was not a newline.
extern volatile uint8_t xv_console_mid_line;

static const char* const kMnemonics[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#09", "#TS",
    "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
    "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

#define UART_LSR (XV_COM1_PORT + 5)
#define UART_LSR_THRE 0x20
// Bounds the wait for a transmitter that never becomes ready.
#define UART_POLL_LIMIT 100000

static void put_char(char c) {
  for (int i = 0; i < UART_POLL_LIMIT; i++) {
    uint8_t lsr = xv_inb(UART_LSR);
    if (lsr == 0xff) return;  // No UART.
    if (lsr & UART_LSR_THRE) break;
  }
  xv_outb(XV_COM1_PORT, (uint8_t)c);
}

static void put_string(const char* s) {
  while (*s) put_char(*s++);
}

static void put_hex(uint64_t value) {
  char digits[16];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[value & 0xf];
    value >>= 4;
  } while (value != 0);
  put_string("0x");
  while (n > 0) put_char(digits[--n]);
}

static void put_decimal(uint64_t value) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (n > 0) put_char(digits[--n]);
}

static uint64_t read_cr2(void) {
  uint64_t cr2;
  __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
  return cr2;
}

_Noreturn void xv_kernel_report_exception(const struct exception_frame* f) {
  if (xv_console_mid_line) put_char('\n');
  put_string("guest: exception ");
  put_decimal(f->vector);
  put_string(" (");
  put_string(kMnemonics[f->vector & 31]);
  put_string(") at RIP ");
  put_hex(f->rip);
  put_string(", error code ");
  put_hex(f->error_code);
  put_string(", CPL ");
  put_decimal(f->cs & 3);
  put_string(", RSP ");
  put_hex(f->rsp);
  put_string(", RFLAGS ");
  put_hex(f->rflags);
  if (f->vector == 14) {
    put_string(", CR2 ");
    put_hex(read_cr2());
  }
  put_char('\n');
  xv_outl(XV_DEBUG_EXIT_PORT, XV_EXIT_EXCEPTION_BASE + (uint32_t)f->vector);
  // Only reached without a debug-exit device.
  for (;;) __asm__ volatile("cli; hlt");
}
