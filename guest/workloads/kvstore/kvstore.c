// A key-value store speaking a line protocol on COM1, reading with RX
// interrupts and the wait system call. It prints a ready banner, then one
// answer per command and nothing else (no echo):
//
//   SET <key> <value>   -> OK              (value: rest of the line)
//   GET <key>           -> VALUE <value> | NOT_FOUND
//   DEL <key>           -> OK | NOT_FOUND
//   COUNT               -> COUNT <n>
//   QUIT                -> BYE commands=<n> keys=<n>, then exit 0
//   anything else       -> ERROR <reason>
//
// Lines end with LF, CR or CRLF; empty lines are ignored.
#include "kv_table.h"
#include "xv/xv.h"

#define LINE_MAX 512

struct line_reader {
  char line[LINE_MAX + 1];
  size_t length;
  bool too_long;
};

// Reads one non-empty line. Returns false if it was too long (the rest of
// it has been discarded).
static bool read_line(struct line_reader* r) {
  r->length = 0;
  r->too_long = false;
  for (;;) {
    char c = xv_uart_getc();
    if (c == '\r' || c == '\n') {
      if (r->length > 0 || r->too_long) break;
      continue;
    }
    if (r->length == LINE_MAX) {
      r->too_long = true;
    } else {
      r->line[r->length++] = c;
    }
  }
  r->line[r->length] = '\0';
  return !r->too_long;
}

// Splits off the first space-separated word of *rest, NUL-terminating it.
static char* next_word(char** rest) {
  char* p = *rest;
  while (*p == ' ') p++;
  char* word = p;
  while (*p != '\0' && *p != ' ') p++;
  if (*p == ' ') *p++ = '\0';
  *rest = p;
  return word;
}

static bool key_ok(const char* key) {
  if (*key == '\0') {
    xv_puts("ERROR missing key");
    return false;
  }
  if (strlen(key) > KV_KEY_MAX) {
    xv_puts("ERROR key too long");
    return false;
  }
  return true;
}

static bool no_more_words(const char* rest) {
  while (*rest == ' ') rest++;
  if (*rest == '\0') return true;
  xv_puts("ERROR too many arguments");
  return false;
}

int xv_main(void) {
  xv_cmdline_allow_only((const char* const[]){NULL});
  kv_init();
  static struct line_reader reader;
  uint64_t commands = 0;
  xv_puts("kvstore: ready");
  for (;;) {
    if (!read_line(&reader)) {
      xv_puts("ERROR line too long");
      continue;
    }
    commands++;
    char* rest = reader.line;
    const char* verb = next_word(&rest);
    if (strcmp(verb, "SET") == 0) {
      const char* key = next_word(&rest);
      if (!key_ok(key)) continue;
      if (strlen(rest) > KV_VALUE_MAX) {
        xv_puts("ERROR value too long");
      } else if (kv_set(key, rest) == KV_SET_FULL) {
        xv_puts("ERROR store full");
      } else {
        xv_puts("OK");
      }
    } else if (strcmp(verb, "GET") == 0) {
      const char* key = next_word(&rest);
      if (!key_ok(key) || !no_more_words(rest)) continue;
      const char* value = kv_get(key);
      if (value != NULL) {
        xv_printf("VALUE %s\n", value);
      } else {
        xv_puts("NOT_FOUND");
      }
    } else if (strcmp(verb, "DEL") == 0) {
      const char* key = next_word(&rest);
      if (!key_ok(key) || !no_more_words(rest)) continue;
      xv_puts(kv_delete(key) ? "OK" : "NOT_FOUND");
    } else if (strcmp(verb, "COUNT") == 0) {
      if (!no_more_words(rest)) continue;
      xv_printf("COUNT %zu\n", kv_count());
    } else if (strcmp(verb, "QUIT") == 0) {
      xv_printf("BYE commands=%llu keys=%zu\n", (unsigned long long)commands,
                kv_count());
      return XV_EXIT_SUCCESS;
    } else {
      xv_puts("ERROR unknown command");
    }
  }
}
