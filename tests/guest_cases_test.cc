// Every case of guest/testdata/cases.txt, end to end, on every backend
// (tests/test_backends.h; a backend not usable here is skipped with the
// reason): under `xvirt run --backend B` (expected serial output and
// ending) and under QEMU through guest/run_qemu.sh, whose output must be the
// same as xvirt's on each backend — our device models and CPU backends
// checked against a real implementation.
#include "guest/testing/guest_cases.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/runfiles.h"
#include "tests/subprocess.h"
#include "tests/test_backends.h"

namespace xv::testing {
namespace {

using ::testing::HasSubstr;
using ::xv::guest_testing::GuestCase;
using ::xv::guest_testing::OutputMatches;
using ::xv::guest_testing::ParseGuestCases;

// How long a case expected to keep running is given, under both VMMs.
constexpr int kRunningCaseSeconds = 1;
// run_qemu.sh's statuses besides the guest's own value.
constexpr int kQemuStoppedWithoutDebugExit = 200;
constexpr int kQemuTimedOut = 201;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
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

bool QemuInstalled() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (access((dir + "/qemu-system-x86_64").c_str(), X_OK) == 0) return true;
  }
  return false;
}

// A zero-filled raw image of `sectors` sectors, for cases with a disk.
std::string MakeDisk(const GuestCase& c, const std::string& tag) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + c.name +
                     "." + tag + ".img";
  std::ofstream(path, std::ios::trunc).close();
  EXPECT_EQ(truncate(path.c_str(), c.disk_sectors * 512), 0) << path;
  return path;
}

ProcessResult RunUnderXvirt(const GuestCase& c, const std::string& backend,
                            bool json = false) {
  std::vector<std::string> argv = {RunfilePath("cli/xvirt"),
                                   "run",
                                   GuestPath(c.guest),
                                   "--cmdline",
                                   c.cmdline,
                                   "--backend",
                                   backend};
  if (!c.input_file.empty()) {
    argv.insert(argv.end(), {"--stdin", RunfilePath(c.input_file)});
  }
  if (c.disk_sectors > 0)
    argv.insert(argv.end(), {"--disk", MakeDisk(c, "xvirt_" + backend)});
  argv.insert(argv.end(),
              {"--timeout", c.end == GuestCase::End::kRunning
                                ? std::to_string(kRunningCaseSeconds)
                                : "60"});
  if (json) argv.push_back("--json");
  return RunProcess(argv, {.timeout_seconds = 90});
}

// `tag` names the disk image (one per test, so that shards never share one).
ProcessResult RunUnderQemu(const GuestCase& c, const std::string& tag) {
  std::vector<std::string> argv = {RunfilePath("guest/run_qemu.sh"), "--append",
                                   c.cmdline};
  if (!c.input_file.empty()) {
    argv.insert(argv.end(), {"--input", RunfilePath(c.input_file)});
  }
  if (c.disk_sectors > 0) argv.insert(argv.end(), {"--disk", MakeDisk(c, tag)});
  if (c.end == GuestCase::End::kRunning) {
    argv.insert(argv.end(), {"--timeout", std::to_string(kRunningCaseSeconds)});
  }
  argv.push_back(GuestPath(c.guest));
  return RunProcess(argv, {.timeout_seconds = 90});
}

// Each case on each backend.
class GuestCaseTest
    : public ::testing::TestWithParam<std::tuple<GuestCase, std::string>> {
 protected:
  const GuestCase& Case() const { return std::get<0>(GetParam()); }
  const std::string& Backend() const { return std::get<1>(GetParam()); }
};

TEST_P(GuestCaseTest, UnderXvirt) {
  XV_SKIP_UNLESS_BACKEND_USABLE(Backend());
  const GuestCase& c = Case();
  ProcessResult r = RunUnderXvirt(c, Backend());
  ASSERT_FALSE(r.timed_out) << "xvirt hung; stderr:\n" << r.err;
  ASSERT_FALSE(r.signaled) << "xvirt died of signal " << r.signal;
  std::string expected = ReadFile(RunfilePath(c.expected_file));
  EXPECT_TRUE(OutputMatches(c, expected, r.out))
      << "serial output:\n"
      << r.out << "\nexpected (" << c.expected_file << "):\n"
      << expected << "\nstderr:\n"
      << r.err;
  switch (c.end) {
    case GuestCase::End::kDebugExit:
      EXPECT_EQ(r.exit_status, static_cast<int>(c.exit_value)) << r.err;
      EXPECT_EQ(r.err, "");
      break;
    case GuestCase::End::kShutdown:
      EXPECT_EQ(r.exit_status, 126);
      EXPECT_THAT(r.err,
                  HasSubstr("guest triple-faulted (shutdown) at RIP 0x"));
      EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
      break;
    case GuestCase::End::kRunning:
      EXPECT_EQ(r.exit_status, 124);
      EXPECT_THAT(
          r.err, HasSubstr("timeout: the guest was still running after 1.0 s"));
      EXPECT_LT(r.seconds, kRunningCaseSeconds + 5.0);
      EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
      break;
  }
}

TEST_P(GuestCaseTest, QemuPrintsWhatXvirtPrints) {
  XV_SKIP_UNLESS_BACKEND_USABLE(Backend());
  if (!QemuInstalled()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  const GuestCase& c = Case();
  ProcessResult qemu = RunUnderQemu(c, "qemu_" + Backend());
  ASSERT_FALSE(qemu.timed_out) << "run_qemu.sh hung; stderr:\n" << qemu.err;
  ProcessResult xvirt = RunUnderXvirt(c, Backend());
  std::string expected = ReadFile(RunfilePath(c.expected_file));
  EXPECT_TRUE(OutputMatches(c, expected, qemu.out))
      << "QEMU's serial output:\n"
      << qemu.out << "\nexpected:\n"
      << expected << "\nrun_qemu.sh stderr:\n"
      << qemu.err;
  // Regex cases print values that legitimately differ between runs (e.g.
  // rdtsc); every other case must print byte for byte the same.
  if (!c.expected_is_regex) {
    EXPECT_EQ(qemu.out, xvirt.out);
  }
  switch (c.end) {
    case GuestCase::End::kDebugExit:
      EXPECT_EQ(qemu.exit_status, static_cast<int>(c.exit_value)) << qemu.err;
      EXPECT_EQ(qemu.exit_status, xvirt.exit_status);
      break;
    case GuestCase::End::kShutdown:
      EXPECT_EQ(qemu.exit_status, kQemuStoppedWithoutDebugExit) << qemu.err;
      break;
    case GuestCase::End::kRunning:
      EXPECT_EQ(qemu.exit_status, kQemuTimedOut) << qemu.err;
      break;
  }
}

// Named case_backend, e.g. hello_emu (gtest allows no '/' in a parameter's
// name).
INSTANTIATE_TEST_SUITE_P(
    Cases, GuestCaseTest,
    ::testing::Combine(::testing::ValuesIn(LoadCases()),
                       ::testing::ValuesIn(TestBackends())),
    [](const ::testing::TestParamInfo<std::tuple<GuestCase, std::string>>&
           info) {
      return std::get<0>(info.param).name + "_" + std::get<1>(info.param);
    });

// The tests below run xvirt on the backend their parameter names.
class XvirtJsonTest : public ::testing::TestWithParam<std::string> {};
class XvirtCliTest : public ::testing::TestWithParam<std::string> {};

// `--json` prints one object with the documented keys, and guest output
// moves to stderr.
TEST_P(XvirtJsonTest, RunReportHasTheDocumentedKeys) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  ProcessResult r = RunProcess(
      {RunfilePath("cli/xvirt"), "run", "hello", "--json", "--backend",
       GetParam()},
      {.env = {{"XVIRT_GUEST_DIR",
                RunfilePath("guest/hello.elf")
                    .substr(0, RunfilePath("guest/hello.elf").rfind('/'))}}});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.err, ReadFile(RunfilePath("guest/testdata/hello.out")));
  ASSERT_EQ(Lines(r.out).size(), 1u);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["backend"], GetParam());
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_EQ(j["stop_reason"], "debug_exit");
  EXPECT_GT(j["esn"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["exits"]["pio"].get<uint64_t>() +
                j["exits"]["hlt"].get<uint64_t>() +
                j["exits"]["mmio"].get<uint64_t>(),
            j["esn"].get<uint64_t>());
  EXPECT_EQ(j["pio_by_device"]["debug_exit"], 1);
  EXPECT_GT(j["wall_seconds"].get<double>(), 0);
  std::string hash = j["final_state_hash"];
  EXPECT_EQ(hash.size(), 32u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST_P(XvirtJsonTest, TimeoutAndCrashReportsToo) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  ProcessResult r = RunProcess({RunfilePath("cli/xvirt"), "run",
                                GuestPath("testcases/triple_fault"), "--json",
                                "--backend", GetParam()});
  EXPECT_EQ(r.exit_status, 126);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["backend"], GetParam());
  EXPECT_EQ(j["stop_reason"], "triple_fault");
  EXPECT_EQ(j["exits"]["shutdown"], 1);
  EXPECT_THAT(j["message"].get<std::string>(), HasSubstr("RIP 0x"));
}

TEST_P(XvirtCliTest, RunHelloByNamePrintsTheGreeting) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  // What `./bazelw run //cli:xvirt -- run hello` does: find the bundled
  // guest through the binary's runfiles.
  ProcessResult r = RunProcess(
      {RunfilePath("cli/xvirt"), "run", "hello", "--backend", GetParam()});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.out, "Hello from the xvirt guest SDK!\n");
}

// kvstore waits for input with every timer masked; once its input is closed
// nothing can wake it, and xvirt says so instead of waiting forever.
TEST_P(XvirtCliTest, GuestWaitingOnClosedInputStops) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  ProcessResult r =
      RunProcess({RunfilePath("cli/xvirt"), "run", GuestPath("kvstore"),
                  "--timeout", "30", "--backend", GetParam()});
  EXPECT_EQ(r.exit_status, 126) << r.err;
  EXPECT_EQ(r.out, "kvstore: ready\n");
  EXPECT_THAT(r.err, HasSubstr("waits for an interrupt that cannot come"));
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_LT(r.seconds, 10);
}

TEST_P(XvirtCliTest, SerialToFileAndInputFromAPipe) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string out = std::string(tmp != nullptr ? tmp : "/tmp") +
                          "/com1." + GetParam() + ".txt";
  ProcessResult r =
      RunProcess({RunfilePath("cli/xvirt"), "run", "hello", "--serial",
                  "file:" + out, "--backend", GetParam()});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(ReadFile(out), "Hello from the xvirt guest SDK!\n");

  // Standard input is COM1's input by default (here a file, as a shell
  // redirection or pipe would give it).
  r = RunProcess(
      {RunfilePath("cli/xvirt"), "run", "kvstore", "--backend", GetParam()},
      {.stdin_path = RunfilePath("guest/testdata/kvstore.in")});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.out, ReadFile(RunfilePath("guest/testdata/kvstore.out")));
}

INSTANTIATE_TEST_SUITE_P(Backends, XvirtJsonTest,
                         ::testing::ValuesIn(TestBackends()),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, XvirtCliTest,
                         ::testing::ValuesIn(TestBackends()),
                         [](const auto& info) { return info.param; });

// Boots no guest: on no backend.
TEST(XvirtHelpTest, HelpAndGuestList) {
  ProcessResult help = RunProcess({RunfilePath("cli/xvirt"), "--help"});
  EXPECT_EQ(help.exit_status, 0);
  for (const char* cmd : {"run", "guests", "demo"}) {
    EXPECT_THAT(help.out, HasSubstr(cmd));
  }
  ProcessResult run_help =
      RunProcess({RunfilePath("cli/xvirt"), "run", "--help"});
  EXPECT_EQ(run_help.exit_status, 0);
  for (const char* opt : {"--mem", "--disk", "--serial", "--stdin", "--cmdline",
                          "--timeout", "--json", "--backend"}) {
    EXPECT_THAT(run_help.out, HasSubstr(opt));
  }
  ProcessResult guests =
      RunProcess({RunfilePath("cli/xvirt"), "guests", "--json"});
  EXPECT_EQ(guests.exit_status, 0);
  auto list = nlohmann::json::parse(guests.out);
  ASSERT_EQ(list.size(), 7u);
  for (const auto& g : list) {
    EXPECT_FALSE(g["path"].get<std::string>().empty()) << g["name"];
  }
}

}  // namespace
}  // namespace xv::testing
