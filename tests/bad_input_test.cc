// Bad input to `xvirt run`: always one clear line on stderr and a non-zero
// exit status, never a crash or a hang.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_support.h"
#include "machine/test_kernel_builder.h"
#include "tests/runfiles.h"
#include "tests/subprocess.h"

namespace xv::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Xvirt() { return RunfilePath("cli/xvirt"); }

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// The contract for every failure: exactly one line on stderr, prefixed
// "xvirt: ", the expected status, no signal, no timeout.
void ExpectCleanFailure(const ProcessResult& r, int status,
                        const std::string& needle) {
  EXPECT_FALSE(r.timed_out);
  EXPECT_FALSE(r.signaled) << "killed by signal " << r.signal;
  EXPECT_EQ(r.exit_status, status) << r.err;
  std::vector<std::string> lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_THAT(lines[0], StartsWith("xvirt: "));
  EXPECT_THAT(lines[0], HasSubstr(needle));
}

TEST(BadInputTest, MissingKvmDevice) {
  ProcessResult r =
      RunProcess({Xvirt(), "run", GuestPath("hello")},
                 {.env = {{"XVIRT_KVM_DEVICE", "/nonexistent/kvm"}}});
  ExpectCleanFailure(r, 125, "cannot open /nonexistent/kvm");
  EXPECT_THAT(r.err, HasSubstr("KVM is not available"));
}

TEST(BadInputTest, NotAKvmDevice) {
  ProcessResult r = RunProcess({Xvirt(), "run", GuestPath("hello")},
                               {.env = {{"XVIRT_KVM_DEVICE", "/dev/null"}}});
  ExpectCleanFailure(r, 125, "KVM_GET_API_VERSION");
}

TEST(BadInputTest, NoPermissionOnKvm) {
  XV_SKIP_WITHOUT_KVM();
  // Run xvirt as an unprivileged user who cannot open the device. As root,
  // drop to `nobody` with setpriv (util-linux); copy the binary and guest
  // where that user can reach them.
  std::vector<std::string> prefix;
  if (geteuid() == 0) {
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no setpriv";
    prefix = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
              "--clear-groups", "--"};
  } else if (access("/dev/kvm", R_OK | W_OK) == 0) {
    GTEST_SKIP() << "this user can open /dev/kvm; no way to lack permission";
  }
  struct stat st;
  ASSERT_EQ(stat("/dev/kvm", &st), 0);
  if (st.st_mode & S_IWOTH) GTEST_SKIP() << "/dev/kvm is world-writable here";
  char dir_template[] = "/tmp/xvirt-perm-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  std::string dir = dir_template;
  chmod(dir.c_str(), 0755);
  std::string xvirt = dir + "/xvirt";
  std::string guest = dir + "/hello.elf";
  WriteFile(xvirt, ReadFileBytes(Xvirt()));
  WriteFile(guest, ReadFileBytes(GuestPath("hello")));
  chmod(xvirt.c_str(), 0755);
  chmod(guest.c_str(), 0644);
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(), {xvirt, "run", guest});
  ProcessResult r = RunProcess(argv);
  ExpectCleanFailure(r, 125, "Permission denied");
  EXPECT_THAT(r.err, HasSubstr("kvm' group"));
  unlink(xvirt.c_str());
  unlink(guest.c_str());
  rmdir(dir.c_str());
}

TEST(BadInputTest, NotAnElfFile) {
  std::string path = TempPath("notes.txt");
  WriteFile(path, std::vector<uint8_t>(300, 'x'));
  ExpectCleanFailure(RunProcess({Xvirt(), "run", path}), 125,
                     "neither an ELF file nor a multiboot image");
}

TEST(BadInputTest, ElfWithoutMultibootHeader) {
  // Any ordinary host program is an ELF file without a multiboot header.
  ExpectCleanFailure(RunProcess({Xvirt(), "run", Xvirt()}), 125,
                     "ELF file without a multiboot header");
}

TEST(BadInputTest, GuestTooLargeForMemory) {
  std::string path = TempPath("big.elf");
  ElfBuilder big;
  big.bss = 64 << 20;
  WriteFile(path, big.Build());
  ProcessResult r = RunProcess({Xvirt(), "run", path, "--mem", "16"});
  ExpectCleanFailure(r, 125, "does not fit in guest memory (16 MiB)");
  EXPECT_THAT(r.err, HasSubstr("--mem"));
}

TEST(BadInputTest, MissingDiskImage) {
  ProcessResult r = RunProcess(
      {Xvirt(), "run", GuestPath("hello"), "--disk", "/nonexistent/d.img"});
  ExpectCleanFailure(r, 125, "/nonexistent/d.img");
}

TEST(BadInputTest, MissingKernelAndUnknownGuest) {
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "/nonexistent/k.elf"}), 125,
                     "/nonexistent/k.elf: no such file");
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "nosuchguest"}), 125,
                     "neither a file nor a bundled guest");
}

TEST(BadInputTest, BadCommandLines) {
  ExpectCleanFailure(RunProcess({Xvirt(), "run"}), 2, "missing argument");
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "hello", "--mem", "x"}), 2,
                     "--mem: 'x' is not a number");
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "hello", "--mem", "1"}), 2,
                     "--mem");
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "hello", "--bogus"}), 2,
                     "unknown option '--bogus'");
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "hello", "--serial", "tcp:1"}),
                     2, "--serial");
  ExpectCleanFailure(RunProcess({Xvirt(), "run", "hello", "--rtc", "soon"}), 2,
                     "--rtc");
  ExpectCleanFailure(RunProcess({Xvirt(), "frobnicate"}), 2,
                     "unknown command 'frobnicate'");
}

TEST(BadInputTest, JsonErrorIsStillOneObject) {
  ProcessResult r =
      RunProcess({Xvirt(), "run", "/nonexistent/k.elf", "--json"});
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.out, StartsWith("{\"error\":"));
  EXPECT_EQ(Lines(r.out).size(), 1u);
}

}  // namespace
}  // namespace xv::testing
