// Console output on COM1, buffered per call so the UART driver can send
// whole FIFO bursts.
#include "xv/console.h"

#include <stdarg.h>
#include <stdint.h>

#include "xv/format.h"
#include "xv/string.h"
#include "xv/uart.h"

// Read by the CPL0 exception report to start its line on a fresh line.
volatile uint8_t xv_console_mid_line;

void xv_console_write(const char* data, size_t length) {
  if (length == 0) return;
  xv_uart_write(data, length);
  xv_console_mid_line = data[length - 1] != '\n';
}

void xv_puts(const char* line) {
  xv_console_write(line, strlen(line));
  xv_console_write("\n", 1);
}

struct line_buffer {
  char data[128];
  size_t used;
};

static void flush(struct line_buffer* b) {
  xv_console_write(b->data, b->used);
  b->used = 0;
}

static void buffered_sink(void* ctx, const char* data, size_t length) {
  struct line_buffer* b = ctx;
  while (length > 0) {
    size_t room = sizeof(b->data) - b->used;
    size_t n = length < room ? length : room;
    memcpy(b->data + b->used, data, n);
    b->used += n;
    data += n;
    length -= n;
    if (b->used == sizeof(b->data)) flush(b);
  }
}

int xv_printf(const char* format, ...) {
  struct line_buffer b;
  b.used = 0;
  va_list args;
  va_start(args, format);
  size_t n = xv_vformat(buffered_sink, &b, format, args);
  va_end(args);
  flush(&b);
  return (int)n;
}
