// Runs every case of guest/testdata/cases.txt under QEMU (TCG) through
// guest/run_qemu.sh and checks the serial output and how the guest ended.
// Skipped where qemu-system-x86_64 is not installed.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "guest/testing/guest_cases.h"
#include "tests/runfiles.h"
#include "tests/subprocess.h"

namespace xv::guest_testing {
namespace {

using ::xv::testing::GuestPath;
using ::xv::testing::ProcessOptions;
using ::xv::testing::ProcessResult;
using ::xv::testing::RunfilePath;
using ::xv::testing::RunProcess;

// run_qemu.sh's exit statuses besides the guest's own value.
constexpr int kStoppedWithoutDebugExit = 200;
constexpr int kTimedOut = 201;
// How long a case expected to keep running is given.
constexpr int kRunningCaseSeconds = 1;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

bool QemuInstalled() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (access((dir + "/qemu-system-x86_64").c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<GuestCase> LoadCases() {
  std::string error;
  auto cases = ParseGuestCases(
      ReadFile(RunfilePath("guest/testdata/cases.txt")), &error);
  if (!cases) {
    ADD_FAILURE() << error;
    return {};
  }
  return *cases;
}

class QemuGuestTest : public ::testing::TestWithParam<GuestCase> {};

TEST_P(QemuGuestTest, OutputAndEnd) {
  if (!QemuInstalled()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  const GuestCase& c = GetParam();
  std::vector<std::string> argv = {RunfilePath("guest/run_qemu.sh"), "--append",
                                   c.cmdline};
  if (!c.input_file.empty()) {
    argv.insert(argv.end(), {"--input", RunfilePath(c.input_file)});
  }
  if (c.disk_sectors > 0) {
    std::string disk =
        std::string(std::getenv("TEST_TMPDIR")) + "/" + c.name + ".img";
    std::ofstream(disk, std::ios::trunc).close();  // Zero-filled by truncate.
    ASSERT_EQ(truncate(disk.c_str(), c.disk_sectors * 512), 0) << disk;
    argv.insert(argv.end(), {"--disk", disk});
  }
  if (c.end == GuestCase::End::kRunning) {
    argv.insert(argv.end(), {"--timeout", std::to_string(kRunningCaseSeconds)});
  }
  argv.push_back(GuestPath(c.guest));

  ProcessOptions options;
  options.timeout_seconds = 60;
  ProcessResult result = RunProcess(argv, options);
  ASSERT_FALSE(result.timed_out) << "run_qemu.sh hung; stderr:\n" << result.err;

  std::string expected = ReadFile(RunfilePath(c.expected_file));
  EXPECT_TRUE(OutputMatches(c, expected, result.out))
      << "serial output:\n"
      << result.out << "\nexpected (" << c.expected_file << "):\n"
      << expected << "\nrun_qemu.sh stderr:\n"
      << result.err;
  switch (c.end) {
    case GuestCase::End::kDebugExit:
      EXPECT_EQ(result.exit_status, static_cast<int>(c.exit_value))
          << result.err;
      break;
    case GuestCase::End::kShutdown:
      EXPECT_EQ(result.exit_status, kStoppedWithoutDebugExit) << result.err;
      break;
    case GuestCase::End::kRunning:
      EXPECT_EQ(result.exit_status, kTimedOut) << result.err;
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, QemuGuestTest, ::testing::ValuesIn(LoadCases()),
                         [](const ::testing::TestParamInfo<GuestCase>& info) {
                           return info.param.name;
                         });

// compute_native must print what the compute guest prints.
TEST(ComputeNativeTest, PrintsTheGuestsLine) {
  ProcessResult result =
      RunProcess({RunfilePath("guest/compute_native"), "mib=2"});
  EXPECT_EQ(result.exit_status, 0);
  EXPECT_EQ(result.out,
            ReadFile(RunfilePath("guest/testdata/compute_mib2.out")));
}

}  // namespace
}  // namespace xv::guest_testing
