#include "emu/emu_loader.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace xv {
namespace {

using ::testing::HasSubstr;

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(EmuLoaderTest, MissingLibraryNamesThePath) {
  ScopedEnv env("XVIRT_EMU_LIBRARY", "/nonexistent/libxvirt_emu.so");
  auto hypervisor = LoadEmuHypervisor();
  ASSERT_FALSE(hypervisor.ok());
  EXPECT_EQ(hypervisor.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(hypervisor.status().message(),
              HasSubstr("XVIRT_EMU_LIBRARY=/nonexistent/libxvirt_emu.so"));
  EXPECT_THAT(std::string(hypervisor.status().message()),
              ::testing::Not(HasSubstr("\n")));
}

TEST(EmuLoaderTest, NotASharedObjectSaysWhyDlopenFailed) {
  // A file that exists but is not an ELF object.
  const std::string path = ::testing::TempDir() + "libxvirt_emu.so";
  FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("not an ELF file\n", f);
  std::fclose(f);
  ScopedEnv env("XVIRT_EMU_LIBRARY", path.c_str());
  auto hypervisor = LoadEmuHypervisor();
  ASSERT_FALSE(hypervisor.ok());
  EXPECT_THAT(hypervisor.status().message(),
              HasSubstr("emulator backend: cannot load " + path + ": "));
}

// The real library, from this test's runfiles (a `data` dependency).
TEST(EmuLoaderTest, LoadsTheEmulatorFromRunfiles) {
  ASSERT_EQ(std::getenv("XVIRT_EMU_LIBRARY"), nullptr);
  auto hypervisor = LoadEmuHypervisor();
  ASSERT_TRUE(hypervisor.ok()) << hypervisor.status();
  EXPECT_EQ((*hypervisor)->name(), "emu");
  // A second load reuses the loaded library.
  auto again = LoadEmuHypervisor();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->name(), "emu");
}

}  // namespace
}  // namespace xv
