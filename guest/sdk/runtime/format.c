// printf-style formatting (see xv/format.h).
#include "xv/format.h"

#include <stdbool.h>
#include <stdint.h>

#include "xv/string.h"

enum length {
  LENGTH_INT,
  LENGTH_CHAR,
  LENGTH_SHORT,
  LENGTH_LONG,
  LENGTH_LONG_LONG,
  LENGTH_SIZE
};

struct spec {
  bool left;   // '-'
  bool zero;   // '0'
  bool plus;   // '+'
  bool space;  // ' '
  int width;
  int precision;  // -1: none
  enum length length;
};

struct output {
  xv_format_sink sink;
  void* ctx;
  size_t count;
};

static void emit(struct output* out, const char* data, size_t length) {
  if (length == 0) return;
  out->sink(out->ctx, data, length);
  out->count += length;
}

static void emit_repeated(struct output* out, char c, int n) {
  char chunk[16];
  memset(chunk, c, sizeof(chunk));
  while (n > 0) {
    int piece = n < (int)sizeof(chunk) ? n : (int)sizeof(chunk);
    emit(out, chunk, (size_t)piece);
    n -= piece;
  }
}

// Emits `body` (length n) padded to the field width.
static void emit_padded(struct output* out, const struct spec* spec,
                        const char* prefix, const char* body, int n,
                        int zeros) {
  int prefix_length = (int)strlen(prefix);
  int total = prefix_length + zeros + n;
  int pad = spec->width > total ? spec->width - total : 0;
  if (!spec->left) {
    if (spec->zero && spec->precision < 0) {
      zeros += pad;
    } else {
      emit_repeated(out, ' ', pad);
    }
  }
  emit(out, prefix, (size_t)prefix_length);
  emit_repeated(out, '0', zeros);
  emit(out, body, (size_t)n);
  if (spec->left) emit_repeated(out, ' ', pad);
}

static void format_integer(struct output* out, const struct spec* spec,
                           uint64_t magnitude, bool negative, unsigned base,
                           bool upper, const char* prefix) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char buf[24];
  int n = 0;
  // With precision 0, the value 0 prints no digits (C semantics).
  if (!(magnitude == 0 && spec->precision == 0)) {
    do {
      buf[sizeof(buf) - 1 - n++] = digits[magnitude % base];
      magnitude /= base;
    } while (magnitude != 0);
  }
  const char* sign = negative      ? "-"
                     : spec->plus  ? "+"
                     : spec->space ? " "
                                   : prefix;
  int zeros = spec->precision > n ? spec->precision - n : 0;
  emit_padded(out, spec, sign, buf + sizeof(buf) - n, n, zeros);
}

// From here on, va_lists travel by pointer from xv_vformat, which started
// them with va_copy; the analyzer cannot follow that.
// NOLINTBEGIN(clang-analyzer-valist.Uninitialized)
static uint64_t take_unsigned(va_list* args, enum length length) {
  switch (length) {
    case LENGTH_CHAR:
      return (unsigned char)va_arg(*args, unsigned);
    case LENGTH_SHORT:
      return (unsigned short)va_arg(*args, unsigned);
    case LENGTH_LONG:
      return va_arg(*args, unsigned long);
    case LENGTH_LONG_LONG:
      return va_arg(*args, unsigned long long);
    case LENGTH_SIZE:
      return va_arg(*args, size_t);
    case LENGTH_INT:
      break;
  }
  return va_arg(*args, unsigned);
}

static int64_t take_signed(va_list* args, enum length length) {
  switch (length) {
    case LENGTH_CHAR:
      return (signed char)va_arg(*args, int);
    case LENGTH_SHORT:
      return (short)va_arg(*args, int);
    case LENGTH_LONG:
      return va_arg(*args, long);
    case LENGTH_LONG_LONG:
      return va_arg(*args, long long);
    case LENGTH_SIZE:
      return (int64_t)va_arg(*args, size_t);
    case LENGTH_INT:
      break;
  }
  return va_arg(*args, int);
}

static const char* parse_spec(const char* p, struct spec* spec, va_list* args) {
  *spec = (struct spec){.precision = -1};
  for (;; p++) {
    if (*p == '-')
      spec->left = true;
    else if (*p == '0')
      spec->zero = true;
    else if (*p == '+')
      spec->plus = true;
    else if (*p == ' ')
      spec->space = true;
    else
      break;
  }
  if (*p == '*') {
    spec->width = va_arg(*args, int);
    if (spec->width < 0) {
      spec->left = true;
      spec->width = -spec->width;
    }
    p++;
  } else {
    while (*p >= '0' && *p <= '9')
      spec->width = spec->width * 10 + (*p++ - '0');
  }
  if (*p == '.') {
    p++;
    spec->precision = 0;
    if (*p == '*') {
      spec->precision = va_arg(*args, int);
      if (spec->precision < 0) spec->precision = -1;
      p++;
    } else {
      while (*p >= '0' && *p <= '9') {
        spec->precision = spec->precision * 10 + (*p++ - '0');
      }
    }
  }
  if (p[0] == 'h' && p[1] == 'h') {
    spec->length = LENGTH_CHAR;
    p += 2;
  } else if (p[0] == 'h') {
    spec->length = LENGTH_SHORT;
    p++;
  } else if (p[0] == 'l' && p[1] == 'l') {
    spec->length = LENGTH_LONG_LONG;
    p += 2;
  } else if (p[0] == 'l' || p[0] == 'j' || p[0] == 't') {
    spec->length = LENGTH_LONG;
    p++;
  } else if (p[0] == 'z') {
    spec->length = LENGTH_SIZE;
    p++;
  }
  return p;
}

size_t xv_vformat(xv_format_sink sink, void* ctx, const char* format,
                  va_list args_in) {
  struct output out = {.sink = sink, .ctx = ctx};
  va_list args;
  va_copy(args, args_in);
  const char* p = format;
  while (*p != '\0') {
    const char* literal = p;
    while (*p != '\0' && *p != '%') p++;
    emit(&out, literal, (size_t)(p - literal));
    if (*p == '\0') break;
    p++;  // '%'
    struct spec spec;
    p = parse_spec(p, &spec, &args);
    char conversion = *p;
    if (conversion == '\0') break;
    p++;
    switch (conversion) {
      case 'd':
      case 'i': {
        int64_t value = take_signed(&args, spec.length);
        uint64_t magnitude = value < 0 ? -(uint64_t)value : (uint64_t)value;
        format_integer(&out, &spec, magnitude, value < 0, 10, false, "");
        break;
      }
      case 'u':
        format_integer(&out, &spec, take_unsigned(&args, spec.length), false,
                       10, false, "");
        break;
      case 'x':
      case 'X':
        spec.plus = spec.space = false;
        format_integer(&out, &spec, take_unsigned(&args, spec.length), false,
                       16, conversion == 'X', "");
        break;
      case 'o':
        spec.plus = spec.space = false;
        format_integer(&out, &spec, take_unsigned(&args, spec.length), false, 8,
                       false, "");
        break;
      case 'p':
        spec.plus = spec.space = false;
        format_integer(&out, &spec, (uintptr_t)va_arg(args, void*), false, 16,
                       false, "0x");
        break;
      case 'c': {
        char c = (char)va_arg(args, int);
        spec.precision = -1;
        spec.zero = false;
        emit_padded(&out, &spec, "", &c, 1, 0);
        break;
      }
      case 's': {
        const char* s = va_arg(args, const char*);
        if (s == NULL) s = "(null)";
        size_t n = spec.precision >= 0 ? strnlen(s, (size_t)spec.precision)
                                       : strlen(s);
        spec.precision = -1;
        spec.zero = false;
        emit_padded(&out, &spec, "", s, (int)n, 0);
        break;
      }
      case '%':
        emit(&out, "%", 1);
        break;
      default: {
        // Unknown conversion: show it rather than guess at the arguments.
        char shown[2] = {'%', conversion};
        emit(&out, shown, 2);
        break;
      }
    }
  }
  va_end(args);
  return out.count;
}

struct buffer {
  char* data;
  size_t size;  // Capacity, including the terminating NUL.
  size_t used;
};

static void buffer_sink(void* ctx, const char* data, size_t length) {
  struct buffer* b = ctx;
  if (b->used + 1 < b->size) {
    size_t room = b->size - 1 - b->used;
    size_t n = length < room ? length : room;
    memcpy(b->data + b->used, data, n);
    b->used += n;
  }
}

int xv_vsnprintf(char* buf, size_t size, const char* format, va_list args) {
  struct buffer b = {.data = buf, .size = size};
  size_t n = xv_vformat(buffer_sink, &b, format, args);
  if (size > 0) buf[b.used] = '\0';
  return (int)n;
}

int xv_snprintf(char* buf, size_t size, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int n = xv_vsnprintf(buf, size, format, args);
  va_end(args);
  return n;
}
// NOLINTEND(clang-analyzer-valist.Uninitialized)
