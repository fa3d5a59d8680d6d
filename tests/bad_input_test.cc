// Bad input to `xvirt run`: always one clear line on stderr and a non-zero
// exit status, never a crash or a hang. The test that gets as far as
// booting a guest runs on every backend (tests/test_backends.h); those about
// KVM itself run `--backend kvm`.
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
#include "tests/test_backends.h"

namespace xv::testing {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
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

// The three tests below are about KVM itself (its device missing, not a KVM
// device, not permitted), so they stay KVM-only: they ask for `--backend
// kvm`, as `auto` would fall back to the emulator instead of failing.
TEST(BadInputTest, MissingKvmDevice) {
  ProcessResult r =
      RunProcess({Xvirt(), "run", GuestPath("hello"), "--backend", "kvm"},
                 {.env = {{"XVIRT_KVM_DEVICE", "/nonexistent/kvm"}}});
  ExpectCleanFailure(r, 125, "cannot open /nonexistent/kvm");
  EXPECT_THAT(r.err, HasSubstr("KVM is not available"));
}

TEST(BadInputTest, NotAKvmDevice) {
  ProcessResult r =
      RunProcess({Xvirt(), "run", GuestPath("hello"), "--backend", "kvm"},
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
  argv.insert(argv.end(), {xvirt, "run", guest, "--backend", "kvm"});
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

// The kernel is loaded into a machine on a backend: on each.
class BadInputOnBackendTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadInputOnBackendTest, GuestTooLargeForMemory) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  std::string path = TempPath("big." + GetParam() + ".elf");
  ElfBuilder big;
  big.bss = 64 << 20;
  WriteFile(path, big.Build());
  ProcessResult r = RunProcess(
      {Xvirt(), "run", path, "--mem", "16", "--backend", GetParam()});
  ExpectCleanFailure(r, 125, "does not fit in guest memory (16 MiB)");
  EXPECT_THAT(r.err, HasSubstr("--mem"));
}

// A guest reading guest-physical memory outside RAM (0xC0000000, above the
// largest --mem): each backend's documented behaviour (`xvirt run --help`),
// never a hang. KVM reports it as MMIO, which reads as all ones on an
// unassigned address, and the guest runs on; the emulator has no MMIO exits
// and stops the run with one line naming the access.
TEST_P(BadInputOnBackendTest, GuestReadingOutsideRam) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  ProcessResult r =
      RunProcess({Xvirt(), "run", GuestPath("testcases/outside_ram"),
                  "--timeout", "30", "--backend", GetParam()},
                 {.timeout_seconds = 60});
  EXPECT_THAT(r.out,
              StartsWith("outside_ram: reading guest-physical 0xc0000000\n"));
  if (GetParam() == "emu") {
    ExpectCleanFailure(r, 126,
                       "MMIO read of 4 bytes at guest-physical "
                       "0xc0000000, outside guest RAM");
    EXPECT_THAT(r.err, HasSubstr("unsupported exit"));
    EXPECT_THAT(r.out, Not(HasSubstr("outside_ram: read 0x")));
  } else {
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_status, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_THAT(r.out, HasSubstr("outside_ram: read 0xffffffff\n"));
  }
}

// A guest executing an instruction the backend may lack (sha256rnds2):
// the emulator stops with 126 and one line naming the instruction; KVM
// runs it where the CPU has SHA (and the guest takes #UD where not).
TEST_P(BadInputOnBackendTest, GuestInstructionTheBackendCannotRun) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  ProcessResult r = RunProcess({Xvirt(), "run", GuestPath("testcases/sha_insn"),
                                "--timeout", "30", "--backend", GetParam()},
                               {.timeout_seconds = 60});
  EXPECT_THAT(r.out, StartsWith("sha_insn: cpuid "));
  if (GetParam() == "emu") {
    ExpectCleanFailure(r, 126,
                       "the emu backend cannot run the guest: "
                       "unsupported instruction 'sha256rnds2");
    EXPECT_THAT(r.out, Not(HasSubstr("sha256rnds2 ran")));
  } else if (r.out.find("cpuid reports SHA") != std::string::npos) {
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("sha_insn: sha256rnds2 ran\n"));
  } else {
    // No SHA on this CPU: the guest's own #UD, reported by its kernel.
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_status, 0x40 + 6) << r.out << r.err;
  }
}

// A guest that never stops, past --timeout: 124 and one line, promptly.
// (guest_cases_test covers the `spin` case too; this keeps bad input's
// "never a hang" in one place.)
TEST_P(BadInputOnBackendTest, SpinningGuestPastTimeout) {
  XV_SKIP_UNLESS_BACKEND_USABLE(GetParam());
  ProcessResult r = RunProcess({Xvirt(), "run", GuestPath("testcases/spin"),
                                "--timeout", "1", "--backend", GetParam()},
                               {.timeout_seconds = 60});
  ExpectCleanFailure(r, 124,
                     "timeout: the guest was still running after 1.0 s");
  EXPECT_LT(r.seconds, 10);
}

INSTANTIATE_TEST_SUITE_P(Backends, BadInputOnBackendTest,
                         ::testing::ValuesIn(TestBackends()),
                         [](const auto& info) { return info.param; });

// Asked for explicitly, KVM is used or the command fails in one line: it
// never falls back to the emulator (no guest output, nothing on stdout).
TEST(BadInputTest, KvmBackendWithoutKvmFailsInOneLine) {
  const std::string hello = GuestPath("hello");
  const std::vector<std::vector<std::string>> commands = {
      {"run", hello},
      {"run", hello, "--json"},
      {"record", hello, "-o", TempPath("nokvm.log")},
      {"replicate", hello},
      {"campaign", GuestPath("compute"), "--faults", "1", "--seed", "1"},
  };
  for (const std::vector<std::string>& command : commands) {
    std::vector<std::string> argv = {Xvirt()};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.insert(argv.end(), {"--backend", "kvm"});
    ProcessResult r =
        RunProcess(argv, {.env = {{"XVIRT_KVM_DEVICE", "/nonexistent"}}});
    SCOPED_TRACE(command[0] + (command.back() == "--json" ? " --json" : ""));
    const std::string needle = "cannot open /nonexistent (KVM is not available";
    if (command.back() == "--json") {
      // The error is the JSON object on stdout, stderr its one line.
      EXPECT_EQ(r.exit_status, 125) << r.err;
      EXPECT_THAT(r.out, StartsWith("{\"error\":"));
      EXPECT_THAT(r.out, HasSubstr(needle));
      EXPECT_EQ(Lines(r.out).size(), 1u) << r.out;
      EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
      continue;
    }
    ExpectCleanFailure(r, 125, needle);
    EXPECT_EQ(r.out, "");
  }
}

// An unknown backend is a usage error, for every command that takes
// --backend, before anything is opened or run.
TEST(BadInputTest, UnknownBackendIsAUsageError) {
  const std::string hello = GuestPath("hello");
  const std::vector<std::vector<std::string>> commands = {
      {"run", hello},
      {"record", hello, "-o", TempPath("bogus.log")},
      {"replay", TempPath("bogus.log")},
      {"replicate", hello},
      {"campaign", GuestPath("compute"), "--faults", "1", "--seed", "1"},
      {"demo"},
  };
  for (const std::vector<std::string>& command : commands) {
    std::vector<std::string> argv = {Xvirt()};
    argv.insert(argv.end(), command.begin(), command.end());
    argv.insert(argv.end(), {"--backend", "bogus"});
    ProcessResult r = RunProcess(argv);
    SCOPED_TRACE(command[0]);
    ExpectCleanFailure(r, 2, "--backend: 'bogus' is not one of auto|kvm|emu");
    EXPECT_EQ(r.out, "");
  }
  ExpectCleanFailure(RunProcess({Xvirt(), "run", hello, "--backend"}), 2,
                     "'--backend' needs a value");
}

// `--backend auto` (the default) where KVM is not usable runs on the
// emulator, saying so in one line on stderr.
TEST(BadInputTest, AutoFallsBackToTheEmulatorSayingSo) {
  XV_SKIP_UNLESS_BACKEND_USABLE("emu");
  ProcessResult r =
      RunProcess({Xvirt(), "run", GuestPath("hello"), "--json"},
                 {.env = {{"XVIRT_KVM_DEVICE", "/nonexistent/kvm"}}});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  std::vector<std::string> err = Lines(r.err);
  ASSERT_EQ(err.size(), 2u) << r.err;
  EXPECT_THAT(err[0], StartsWith("xvirt: /nonexistent/kvm is not usable "
                                 "(cannot open /nonexistent/kvm (KVM is not "
                                 "available"));
  EXPECT_THAT(err[0], EndsWith("; running on the emulator backend"));
  EXPECT_EQ(err[1], "Hello from the xvirt guest SDK!");
  EXPECT_THAT(r.out, HasSubstr("\"backend\":\"emu\""));
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
