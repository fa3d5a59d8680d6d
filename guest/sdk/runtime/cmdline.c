// Multiboot command-line options (see xv/cmdline.h). The line is copied at
// start-up: the loader's copy may lie in memory xv_alloc() hands out.
#include "xv/cmdline.h"

#include <stddef.h>

#include "multiboot.h"
#include "xv/exit.h"
#include "xv/format.h"
#include "xv/panic.h"
#include "xv/string.h"

#define CMDLINE_MAX 1024
#define WORDS_MAX 64

static char raw_line[CMDLINE_MAX];
// Words split in place: `keys[i]` is NUL-terminated; `values[i]` is NULL
// for a flag.
static char split_line[CMDLINE_MAX];
static const char* keys[WORDS_MAX];
static const char* values[WORDS_MAX];
static size_t word_count;

void xv_cmdline_init(const struct multiboot_info* info) {
  if (!(info->flags & MULTIBOOT_INFO_CMDLINE) || info->cmdline == 0) return;
  const char* line = (const char*)(uintptr_t)info->cmdline;
  size_t n = strnlen(line, CMDLINE_MAX);
  if (n == CMDLINE_MAX) {
    xv_fatal(XV_EXIT_USAGE, "command line longer than %d bytes",
             CMDLINE_MAX - 1);
  }
  memcpy(raw_line, line, n + 1);
  memcpy(split_line, line, n + 1);
  char* p = split_line;
  for (;;) {
    while (*p == ' ' || *p == '\t') *p++ = '\0';
    if (*p == '\0') break;
    if (word_count == WORDS_MAX) {
      xv_fatal(XV_EXIT_USAGE, "more than %d words on the command line",
               WORDS_MAX);
    }
    keys[word_count] = p;
    values[word_count] = NULL;
    while (*p != '\0' && *p != ' ' && *p != '\t') {
      if (*p == '=' && values[word_count] == NULL) {
        *p = '\0';
        values[word_count] = p + 1;
      }
      p++;
    }
    word_count++;
  }
}

const char* xv_cmdline(void) { return raw_line; }

// The last occurrence wins, so appended options override earlier ones.
static const char* find_value(const char* key) {
  const char* found = NULL;
  for (size_t i = 0; i < word_count; i++) {
    if (values[i] != NULL && strcmp(keys[i], key) == 0) found = values[i];
  }
  return found;
}

const char* xv_cmdline_str(const char* key, const char* fallback) {
  const char* value = find_value(key);
  return value != NULL ? value : fallback;
}

static bool parse_u64(const char* s, uint64_t* out) {
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
  }
  if (*s == '\0') return false;
  uint64_t value = 0;
  for (; *s != '\0'; s++) {
    unsigned digit;
    if (*s >= '0' && *s <= '9')
      digit = (unsigned)(*s - '0');
    else if (*s >= 'a' && *s <= 'f')
      digit = (unsigned)(*s - 'a' + 10);
    else if (*s >= 'A' && *s <= 'F')
      digit = (unsigned)(*s - 'A' + 10);
    else
      return false;
    if (digit >= base) return false;
    if (value > (UINT64_MAX - digit) / base) return false;
    value = value * base + digit;
  }
  *out = value;
  return true;
}

uint64_t xv_cmdline_u64(const char* key, uint64_t fallback) {
  const char* value = find_value(key);
  if (value == NULL) return fallback;
  uint64_t parsed;
  if (!parse_u64(value, &parsed)) {
    xv_fatal(XV_EXIT_USAGE, "option %s=%s is not a number", key, value);
  }
  return parsed;
}

bool xv_cmdline_flag(const char* name) {
  for (size_t i = 0; i < word_count; i++) {
    if (values[i] == NULL && strcmp(keys[i], name) == 0) return true;
  }
  return false;
}

void xv_cmdline_allow_only(const char* const* allowed) {
  for (size_t i = 0; i < word_count; i++) {
    if (values[i] == NULL) continue;
    bool known = false;
    for (const char* const* k = allowed; *k != NULL && !known; k++) {
      known = strcmp(keys[i], *k) == 0;
    }
    if (known) continue;
    if (*allowed == NULL) {
      xv_fatal(XV_EXIT_USAGE, "unknown option %s=%s (this guest takes none)",
               keys[i], values[i]);
    }
    char list[256] = "";
    size_t used = 0;
    for (const char* const* k = allowed; *k != NULL; k++) {
      used += (size_t)xv_snprintf(list + used, sizeof(list) - used, "%s%s",
                                  k == allowed ? "" : " ", *k);
      if (used >= sizeof(list)) break;
    }
    xv_fatal(XV_EXIT_USAGE, "unknown option %s=%s (options: %s)", keys[i],
             values[i], list);
  }
}
