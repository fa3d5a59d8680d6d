// 16550A UART driver for COM1 (0x3f8, IRQ4): 115200 8N1, FIFOs on, RX
// interrupt at one byte. The runtime calls xv_uart_init() before xv_main().
#ifndef XV_UART_H_
#define XV_UART_H_

#include <stddef.h>

#define XV_COM1_PORT 0x3f8

void xv_uart_init(void);
// Polls THRE, then sends one byte.
void xv_uart_putc(char c);
// Sends up to 16 bytes (the transmit FIFO's depth) per THRE poll.
void xv_uart_write(const void* data, size_t length);
// Returns a received byte, or -1 if none is waiting.
int xv_uart_try_getc(void);
// Waits for a byte: enables the RX interrupt and sleeps between interrupts.
char xv_uart_getc(void);

#endif  // XV_UART_H_
