// Test support: paths of data dependencies (guest kernels, the xvirt binary,
// scripts) inside a test's Bazel runfiles.
#ifndef EXTRAVIRT_TESTS_RUNFILES_H_
#define EXTRAVIRT_TESTS_RUNFILES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace xv::testing {

// Absolute path of `path` (relative to the workspace root, e.g.
// "guest/hello.elf"); aborts the test binary if runfiles are unusable.
std::string RunfilePath(std::string_view path);

// A bundled or test-only guest: "hello" -> guest/hello.elf,
// "testcases/spin" -> guest/testcases/spin.elf.
std::string GuestPath(std::string_view name);

// The file's bytes (empty vector and a test failure if unreadable).
std::vector<uint8_t> ReadFileBytes(const std::string& path);

}  // namespace xv::testing

#endif  // EXTRAVIRT_TESTS_RUNFILES_H_
