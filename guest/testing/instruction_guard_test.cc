// Disassembles the guest images and checks for instructions that must not
// be there: nondeterministic ones that do not exit (rdtsc, rdtscp, rdrand,
// rdseed; only testcases/rdtsc uses rdtsc, on purpose) anywhere, and in the
// kernel's own sections, which run at CPL0, the ones PVM's emulator cannot
// execute (KVM-NOTES.md). Skipped where objdump is not installed.
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/runfiles.h"
#include "tests/subprocess.h"

namespace xv::guest_testing {
namespace {

using ::xv::testing::GuestPath;
using ::xv::testing::Lines;
using ::xv::testing::RunProcess;

constexpr char kObjdump[] = "/usr/bin/objdump";

// Disassembly lines of `sections` of `image` (64-bit code in an ELF32 file).
std::vector<std::string> Disassemble(const std::string& image,
                                     const std::vector<std::string>& sections) {
  std::vector<std::string> argv = {kObjdump, "-d", "--no-show-raw-insn", "-m",
                                   "i386:x86-64"};
  for (const std::string& s : sections) argv.insert(argv.end(), {"-j", s});
  argv.push_back(image);
  auto result = RunProcess(argv);
  EXPECT_EQ(result.exit_status, 0) << result.err;
  return Lines(result.out);
}

// Lines whose mnemonic matches `mnemonics` (a regex alternative list).
std::vector<std::string> Find(const std::vector<std::string>& lines,
                              const std::string& mnemonics) {
  std::regex pattern("^\\s*[0-9a-f]+:\\s+(" + mnemonics + ")\\b");
  std::vector<std::string> found;
  for (const std::string& line : lines) {
    if (std::regex_search(line, pattern)) found.push_back(line);
  }
  return found;
}

class InstructionGuardTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (access(kObjdump, X_OK) != 0) GTEST_SKIP() << "objdump is not installed";
  }
};

TEST_P(InstructionGuardTest, NoUntrappableNondeterminism) {
  auto lines =
      Disassemble(GuestPath(GetParam()), {".boot", ".xv_fixed", ".text"});
  ASSERT_FALSE(lines.empty());
  for (const std::string& line : Find(lines, "rdtsc|rdtscp|rdrand|rdseed")) {
    ADD_FAILURE() << GetParam() << ": " << line;
  }
}

TEST_P(InstructionGuardTest, KernelSectionsAvoidWhatPvmCannotEmulate) {
  auto lines = Disassemble(GuestPath(GetParam()), {".boot", ".xv_fixed"});
  ASSERT_FALSE(lines.empty());
  for (const std::string& line :
       Find(lines,
            "int3|int|clac|stac|xgetbv|clflushopt|invpcid|rdpru|vmcall")) {
    ADD_FAILURE() << GetParam() << ": " << line;
  }
}

INSTANTIATE_TEST_SUITE_P(BundledGuests, InstructionGuardTest,
                         ::testing::Values("hello", "compute", "kvstore",
                                           "disk", "timer", "memtouch", "vro"));

}  // namespace
}  // namespace xv::guest_testing
