// The guest cases of guest/testdata/cases.txt: which guest to run with
// which options, input and disk, and what it must print and exit with. Any
// VMM's tests can run them (the QEMU test here; xvirt's later).
#ifndef EXTRAVIRT_GUEST_TESTING_GUEST_CASES_H_
#define EXTRAVIRT_GUEST_TESTING_GUEST_CASES_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace xv::guest_testing {

struct GuestCase {
  enum class End {
    kDebugExit,  // The guest wrote `exit_value` to isa-debug-exit.
    kShutdown,   // The VM stopped without debug-exit (e.g. triple fault).
    kRunning,    // Still running when stopped after a short time limit.
  };

  std::string name;
  std::string guest;    // As tests/runfiles.h GuestPath() takes it.
  std::string cmdline;  // Empty for none.
  // Workspace-relative paths (for tests/runfiles.h RunfilePath()).
  std::string input_file;  // Empty for none.
  uint64_t disk_sectors = 0;
  End end = End::kDebugExit;
  uint32_t exit_value = 0;
  std::string expected_file;
  bool expected_is_regex = false;  // *.re rather than *.out
};

// Parses cases.txt; `error` says what is wrong with which line.
std::optional<std::vector<GuestCase>> ParseGuestCases(const std::string& text,
                                                      std::string* error);

// Whether `output` is what `c` expects; `expected` is the content of its
// expected file.
bool OutputMatches(const GuestCase& c, const std::string& expected,
                   const std::string& output);

// For gtest's parameter names and failure messages.
std::ostream& operator<<(std::ostream& os, const GuestCase& c);

}  // namespace xv::guest_testing

#endif  // EXTRAVIRT_GUEST_TESTING_GUEST_CASES_H_
