// A scratch directory for back-end tests, removed with its files at the end.
#ifndef EXTRAVIRT_DEVICES_BACKEND_TEST_UTIL_H_
#define EXTRAVIRT_DEVICES_BACKEND_TEST_UTIL_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace xv {

class ScratchDir {
 public:
  // Under $TEST_TMPDIR, or under `base` when given (Unix socket paths must
  // stay shorter than 108 bytes, which Bazel's TEST_TMPDIR may not be).
  explicit ScratchDir(const char* base = nullptr) {
    if (base == nullptr) base = getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/xvdevXXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  bool ok() const { return !path_.empty(); }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace xv

#endif  // EXTRAVIRT_DEVICES_BACKEND_TEST_UTIL_H_
