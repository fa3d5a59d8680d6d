// Options from the multiboot command line (QEMU: -append, xvirt:
// --cmdline). Words are separated by spaces; `key=value` words are options,
// other words are flags. QEMU puts the kernel's file name first; it is just
// a flag nobody asks for.
//
//   uint64_t mib = xv_cmdline_u64("mib", 16);
//
// A malformed number ends the guest with XV_EXIT_USAGE and a message, so a
// typo never silently runs with the default.
#ifndef XV_CMDLINE_H_
#define XV_CMDLINE_H_

#include <stdbool.h>
#include <stdint.h>

// The whole command line as the loader passed it ("" if none).
const char* xv_cmdline(void);

// The value of `key`, or `fallback` if the option is absent.
const char* xv_cmdline_str(const char* key, const char* fallback);
// Decimal, or hexadecimal with 0x. Exits with XV_EXIT_USAGE if malformed.
uint64_t xv_cmdline_u64(const char* key, uint64_t fallback);
// True if the word `name` (without '=') is present.
bool xv_cmdline_flag(const char* name);

// Exits with XV_EXIT_USAGE, naming the option, if any `key=value` option is
// not in the NULL-terminated list `keys`.
void xv_cmdline_allow_only(const char* const* keys);

#endif  // XV_CMDLINE_H_
