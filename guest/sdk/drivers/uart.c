// 16550A on COM1.
#include "xv/uart.h"

#include <stdbool.h>
#include <stdint.h>

#include "xv/irq.h"
#include "xv/pic.h"
#include "xv/port_io.h"

#define UART_DATA (XV_COM1_PORT + 0)  // RBR/THR; DLL with DLAB.
#define UART_IER (XV_COM1_PORT + 1)   // DLM with DLAB.
#define UART_FCR (XV_COM1_PORT + 2)
#define UART_LCR (XV_COM1_PORT + 3)
#define UART_MCR (XV_COM1_PORT + 4)
#define UART_LSR (XV_COM1_PORT + 5)

#define LCR_DLAB 0x80
#define LCR_8N1 0x03
// FIFOs on, RX interrupt at 1 byte (so no line waits for the character
// timeout). boot.S already turned them on as the guest's first I/O; since
// the enable bit does not change, this write flushes nothing that arrived
// since.
#define FCR_ENABLE_TRIGGER_1 0x01
// DTR, RTS, and OUT2, which gates the IRQ line on PCs.
#define MCR_DTR_RTS_OUT2 0x0b
#define IER_RX_DATA 0x01
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define TX_FIFO_DEPTH 16
#define BAUD_DIVISOR_115200 1

static bool rx_interrupt_enabled;

void xv_uart_init(void) {
  xv_outb(UART_IER, 0);
  xv_outb(UART_LCR, LCR_DLAB);
  xv_outb(UART_DATA, BAUD_DIVISOR_115200);
  xv_outb(UART_IER, 0);
  xv_outb(UART_LCR, LCR_8N1);
  xv_outb(UART_FCR, FCR_ENABLE_TRIGGER_1);
  xv_outb(UART_MCR, MCR_DTR_RTS_OUT2);
}

static void wait_transmitter_empty(void) {
  while (!(xv_inb(UART_LSR) & LSR_THR_EMPTY)) {
  }
}

void xv_uart_putc(char c) {
  wait_transmitter_empty();
  xv_outb(UART_DATA, (uint8_t)c);
}

void xv_uart_write(const void* data, size_t length) {
  const uint8_t* p = data;
  while (length > 0) {
    // THRE means the whole transmit FIFO is empty.
    size_t burst = length < TX_FIFO_DEPTH ? length : TX_FIFO_DEPTH;
    wait_transmitter_empty();
    xv_outsb(UART_DATA, p, burst);
    p += burst;
    length -= burst;
  }
}

int xv_uart_try_getc(void) {
  if (!(xv_inb(UART_LSR) & LSR_DATA_READY)) return -1;
  return xv_inb(UART_DATA);
}

char xv_uart_getc(void) {
  if (!rx_interrupt_enabled) {
    xv_outb(UART_IER, IER_RX_DATA);
    xv_pic_unmask(XV_IRQ_COM1);
    rx_interrupt_enabled = true;
  }
  // IRQ4 is edge-triggered: sleep only once the FIFO is seen empty (line
  // low), so the next byte is a new edge.
  for (;;) {
    uint64_t seen = xv_irq_total_count();
    int c = xv_uart_try_getc();
    if (c >= 0) return (char)c;
    xv_wait_for_interrupt(seen);
  }
}
