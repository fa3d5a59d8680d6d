#include "tests/runfiles.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>

#include "gtest/gtest.h"
#include "tools/cpp/runfiles/runfiles.h"

namespace xv::testing {

using bazel::tools::cpp::runfiles::Runfiles;

std::string RunfilePath(std::string_view path) {
  static Runfiles* runfiles = [] {
    std::string error;
    Runfiles* r = Runfiles::CreateForTest(&error);
    if (r == nullptr) {
      std::fprintf(stderr, "cannot locate runfiles: %s\n", error.c_str());
      std::abort();
    }
    return r;
  }();
  return runfiles->Rlocation("extravirt/" + std::string(path));
}

std::string GuestPath(std::string_view name) {
  return RunfilePath("guest/" + std::string(name) + ".elf");
}

std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace xv::testing
