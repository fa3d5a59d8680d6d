// Test support: scratch files in the test's private temporary directory.
#ifndef EXTRAVIRT_TESTS_TEST_FILES_H_
#define EXTRAVIRT_TESTS_TEST_FILES_H_

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

namespace xv::testing {

// `name` inside $TEST_TMPDIR (Bazel's per-test directory), else /tmp.
inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

// The file's bytes; empty if it cannot be read.
inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace xv::testing

#endif  // EXTRAVIRT_TESTS_TEST_FILES_H_
