// The replica manager on the scripted fake backend (no hypervisor): an echo
// guest and a timer guest replicated give a plain run's output with
// checkpoints verified; faults in registers and memory of either replica, a
// crash and a hang are masked or recovered by a third replica and a vote;
// faults in both stop the run fail-safe. replicated_run_test does the same
// with real guests on KVM.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "devices/serial_backend.h"
#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/live_environment.h"
#include "machine/testing/fake_guests.h"
#include "replica/fault_spec.h"
#include "replica/replicated_run.h"

namespace xv {
namespace {

using ::xv::testing::FakeEcho;
using ::xv::testing::FakeKernelImage;
using ::xv::testing::FakeTicker;

constexpr char kSession[] = "two fake replicas\nQ";

std::string TempFile(const std::string& name) {
  return ::testing::TempDir() + "/" + name;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunOutput {
  std::string output;
  int exit_status = -1;
  std::optional<ReplicatedOutcome> replicated;
};

RunOutput RunFake(const FakeProgram& program, const std::string& tag,
                  bool replicated, std::vector<FaultSpec> faults = {}) {
  const std::string out = TempFile(tag + ".out");
  const std::string in = TempFile(tag + ".in");
  std::ofstream(in, std::ios::binary) << kSession;
  auto serial =
      OpenSerialBackend({.output = "file:" + out, .input = "file:" + in});
  EXPECT_TRUE(serial.ok()) << serial.status();
  LiveEnvironment env(std::move(*serial), std::nullopt);
  FakeHypervisor hv(program);
  MachineConfig config;
  config.memory_bytes = 8 << 20;
  config.platform.rtc_epoch_seconds = 1'700'000'000;
  const std::vector<uint8_t> kernel = FakeKernelImage();
  RunOutput run;
  if (replicated) {
    ReplicaOptions options{.checkpoint_every = 10,
                           .timeout_seconds = 60,
                           .hang_timeout_seconds = 0.3};
    if (!faults.empty()) {
      options.inject = faults[0];
      options.also_inject.assign(faults.begin() + 1, faults.end());
    }
    auto r = RunReplicated(hv, config, kernel, "fake", {}, env, options);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      run.exit_status = r->result.exit_status;
      run.replicated = *r;
    }
  } else {
    auto m = Machine::Create(hv, config, &env);
    EXPECT_TRUE(m.ok()) << m.status();
    EXPECT_TRUE((*m)->BootMultiboot(kernel, "fake", {}).ok());
    env.StartClock((*m)->platform().clock().now_ns());
    auto r = RunMachine(**m, env, {.timeout_seconds = 60});
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(env.Finish().ok());
    if (r.ok()) run.exit_status = r->exit_status;
  }
  run.output = ReadAll(out);
  return run;
}

FaultSpec Fault(std::string_view spec) {
  auto f = ParseFaultSpec(spec, {.max_esn = 1, .memory_bytes = 8 << 20});
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

TEST(ReplicatedRunFakeTest, SameOutputAsAPlainRunWithCheckpointsVerified) {
  for (const auto& [tag, program] :
       {std::pair{"echo", FakeEcho()}, std::pair{"ticker", FakeTicker(40)}}) {
    const RunOutput plain =
        RunFake(program, std::string(tag) + "_plain", false);
    const RunOutput rep = RunFake(program, std::string(tag) + "_rep", true);
    ASSERT_TRUE(rep.replicated) << tag;
    const ReplicatedOutcome& o = *rep.replicated;
    EXPECT_FALSE(o.fail_safe) << tag << ": " << *o.fail_safe;
    EXPECT_TRUE(o.divergences.empty())
        << tag << ": " << o.divergences[0].detail;
    EXPECT_FALSE(plain.output.empty()) << tag;
    EXPECT_EQ(rep.output, plain.output) << tag;
    EXPECT_EQ(rep.exit_status, 0) << tag << ": " << o.result.message;
    EXPECT_GE(o.checkpoints_verified, 3u) << tag;
    EXPECT_TRUE(o.final_state_hash) << tag;
    EXPECT_EQ(o.backend, "fake");
  }
}

// Each fault in one replica is masked, or detected and recovered by voting
// that replica out, with the fault-free output.
TEST(ReplicatedRunFakeTest, EachFaultIsMaskedOrRecovered) {
  const RunOutput clean = RunFake(FakeEcho(), "echo_clean", false);
  ASSERT_EQ(clean.output, kSession);
  struct Expectation {
    const char* spec;
    bool must_detect;
  };
  const Expectation faults[] = {
      // The echo guest keeps the last byte and a count in these pages: a
      // flip where it stores is overwritten by its next store (masked),
      // one beside it stays and is found at the next checkpoint.
      {"mem:0x300000:1@20:leader", false},  {"mem:0x300010:1@20:leader", true},
      {"mem:0x301010:5@33:follower", true}, {"reg:rcx:3@20:follower", true},
      {"reg:rbx:40@27:leader", false},      {"crash@15:leader", true},
      {"crash@25:follower", true},          {"hang@15:leader", true},
      {"hang@25:follower", true},
  };
  for (const Expectation& e : faults) {
    const FaultSpec fault = Fault(e.spec);
    const RunOutput rep = RunFake(FakeEcho(), "echo_fault", true, {fault});
    ASSERT_TRUE(rep.replicated) << e.spec;
    const ReplicatedOutcome& o = *rep.replicated;
    EXPECT_TRUE(o.injected) << e.spec;
    EXPECT_FALSE(o.fail_safe) << e.spec << ": " << *o.fail_safe;
    EXPECT_EQ(rep.output, clean.output) << e.spec;
    EXPECT_EQ(rep.exit_status, clean.exit_status) << e.spec;
    if (e.must_detect) {
      EXPECT_FALSE(o.divergences.empty()) << e.spec;
    }
    for (const DivergenceEvent& d : o.divergences) {
      EXPECT_TRUE(d.recovered) << e.spec << ": " << d.detail;
      EXPECT_EQ(d.voted_out, fault.replica) << e.spec << ": " << d.detail;
    }
  }
}

// Different faults in both replicas before the same checkpoint: no
// majority; the run stops fail-safe having released only a verified prefix.
TEST(ReplicatedRunFakeTest, NoMajorityStopsFailSafeWithAVerifiedPrefix) {
  const RunOutput rep = RunFake(
      FakeEcho(), "echo_no_majority", true,
      {Fault("mem:0x300010:1@22:leader"), Fault("mem:0x300010:2@22:follower")});
  ASSERT_TRUE(rep.replicated);
  const ReplicatedOutcome& o = *rep.replicated;
  EXPECT_TRUE(o.fail_safe);
  ASSERT_FALSE(o.divergences.empty());
  EXPECT_FALSE(o.divergences.back().recovered);
  EXPECT_LT(rep.output.size(), std::string(kSession).size());
  EXPECT_TRUE(std::string(kSession).starts_with(rep.output)) << rep.output;
}

}  // namespace
}  // namespace xv
