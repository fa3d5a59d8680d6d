// Two replicas of a live run on real KVM: every bundled guest produces the
// output of a plain run, with checkpoints verified along the way; a fault
// injected into one replica stops the run fail-safe.
#include "replica/replicated_run.h"

#include <filesystem>
#include <random>

#include "devices/disk_image.h"
#include "devices/serial_backend.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_support.h"
#include "replica/fault_spec.h"
#include "tests/runfiles.h"
#include "tests/test_files.h"

namespace xv {
namespace {

using testing::GuestPath;
using testing::ReadText;
using testing::RunfilePath;
using testing::TempPath;
using testing::WriteBytes;

struct Case {
  std::string label, guest, cmdline, input;
  uint64_t disk_bytes = 0;
  uint64_t checkpoint_every = 50;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.label;
}

struct RunOutput {
  std::string output;
  std::optional<ReplicatedOutcome> replicated;
  int exit_status = -1;
};

// One run of `c`, plain or replicated, with a fresh copy of its disk.
RunOutput RunCase(const Case& c, bool replicated,
                  std::optional<FaultSpec> inject = std::nullopt) {
  const std::string tag = c.label + (replicated ? "_rep" : "_plain");
  const std::string out = TempPath(tag + ".out");
  SerialBackendSpec spec{.output = "file:" + out};
  if (!c.input.empty()) {
    WriteBytes(TempPath(tag + ".in"), c.input);
    spec.input = "file:" + TempPath(tag + ".in");
  }
  std::optional<DiskImage> disk;
  if (c.disk_bytes) {
    std::mt19937_64 rng(c.disk_bytes);
    std::string image(c.disk_bytes, '\0');
    for (char& b : image) b = static_cast<char>(rng());
    WriteBytes(TempPath(tag + ".img"), image);
    auto d = DiskImage::Open(TempPath(tag + ".img"));
    EXPECT_TRUE(d.ok()) << d.status();
    disk = std::move(*d);
  }
  auto serial = OpenSerialBackend(spec);
  EXPECT_TRUE(serial.ok()) << serial.status();
  LiveEnvironment env(std::move(*serial), std::move(disk));
  auto kvm = KvmSystem::Open();
  EXPECT_TRUE(kvm.ok());
  MachineConfig config;
  config.memory_bytes = 64ull << 20;
  config.platform.disk_sectors = env.disk_sectors();
  config.platform.rtc_epoch_seconds = 1'700'000'000;
  std::string image = ReadText(GuestPath(c.guest));
  std::span<const uint8_t> kernel(
      reinterpret_cast<const uint8_t*>(image.data()), image.size());
  RunOutput run;
  if (replicated) {
    auto r = RunReplicated(*kvm, config, kernel, c.guest,
                           {.cmdline = c.cmdline}, env,
                           {.checkpoint_every = c.checkpoint_every,
                            .timeout_seconds = 60,
                            .inject = inject});
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      run.exit_status = r->result.exit_status;
      run.replicated = *r;
    }
  } else {
    auto m = Machine::Create(*kvm, config, &env);
    EXPECT_TRUE(m.ok());
    EXPECT_TRUE(
        (*m)->BootMultiboot(kernel, c.guest, {.cmdline = c.cmdline}).ok());
    env.StartClock((*m)->platform().clock().now_ns());
    auto r = RunMachine(**m, env, {.timeout_seconds = 60});
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(env.Finish().ok());
    if (r.ok()) run.exit_status = r->exit_status;
  }
  run.output = ReadText(out);
  return run;
}

class ReplicatedRunTest : public ::testing::TestWithParam<Case> {};

TEST_P(ReplicatedRunTest, SameOutputAsAPlainRunWithCheckpointsVerified) {
  XV_SKIP_WITHOUT_KVM();
  const Case& c = GetParam();
  RunOutput plain = RunCase(c, /*replicated=*/false);
  RunOutput rep = RunCase(c, /*replicated=*/true);
  ASSERT_TRUE(rep.replicated);
  EXPECT_FALSE(rep.replicated->divergence) << *rep.replicated->divergence;
  EXPECT_EQ(rep.output, plain.output);
  EXPECT_FALSE(rep.output.empty());
  EXPECT_EQ(rep.exit_status, plain.exit_status)
      << rep.replicated->result.message;
  // The initial one plus those along the way.
  EXPECT_GE(rep.replicated->checkpoints_verified, 2u);
  EXPECT_GT(rep.replicated->outputs_released, 0u);
  EXPECT_TRUE(rep.replicated->final_state_hash);
  RecordProperty("checkpoints_verified",
                 std::to_string(rep.replicated->checkpoints_verified));
  RecordProperty("outputs_released",
                 std::to_string(rep.replicated->outputs_released));
}

// A fault in either replica is detected, and nothing the faulty replica
// alone produced reaches the back-end: what was released is a prefix of the
// fault-free output.
TEST(ReplicatedRunFaultTest, FaultsStopFailSafeWithAVerifiedPrefix) {
  XV_SKIP_WITHOUT_KVM();
  const Case c{.label = "kvstore_fault",
               .guest = "kvstore",
               .input = ReadText(RunfilePath("guest/testdata/kvstore.in")),
               .checkpoint_every = 50};
  const std::string clean = RunCase(c, false).output;
  int detected = 0;
  for (const char* spec : {"reg:rip:4@120:follower", "reg:rax:9@120:leader",
                           "mem:0x200000:0@120:follower", "crash@120:leader",
                           "crash@120:follower"}) {
    auto f = ParseFaultSpec(spec, {.max_esn = 1, .memory_bytes = 64 << 20});
    ASSERT_TRUE(f.ok());
    RunOutput rep = RunCase(c, true, *f);
    ASSERT_TRUE(rep.replicated) << spec;
    EXPECT_TRUE(rep.replicated->injected)
        << spec << ": run ended at ESN " << rep.replicated->result.esn << " ("
        << rep.replicated->result.message << ")";
    // Masked faults may end clean; a detected one stops the run.
    if (rep.replicated->divergence) ++detected;
    EXPECT_TRUE(clean.starts_with(rep.output))
        << spec << ": released output is not a prefix of the clean run's:\n"
        << rep.output;
  }
  EXPECT_GE(detected, 3);  // crashes and the rip flip at least
}

INSTANTIATE_TEST_SUITE_P(
    BundledGuests, ReplicatedRunTest,
    ::testing::Values(
        Case{.label = "hello", .guest = "hello", .checkpoint_every = 8},
        Case{.label = "compute", .guest = "compute", .cmdline = "mib=4"},
        Case{.label = "kvstore",
             .guest = "kvstore",
             .input = ReadText(RunfilePath("guest/testdata/kvstore.in"))},
        Case{.label = "disk",
             .guest = "disk",
             .cmdline = "sectors=16",
             .disk_bytes = 1 << 20,
             .checkpoint_every = 200},
        Case{.label = "timer", .guest = "timer", .cmdline = "ticks=20"},
        Case{.label = "memtouch",
             .guest = "memtouch",
             .cmdline = "mib=8 passes=2",
             .checkpoint_every = 20},
        Case{.label = "vro", .guest = "vro"}),
    [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace xv
