// Two replicas of a live run of real guests on every backend: every bundled
// guest produces the output of a plain run, with checkpoints verified along the
// way; a fault injected into either replica is masked, or detected and
// recovered by a third replica and a vote, with the fault-free output.
#include "replica/replicated_run.h"

#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <thread>
#include <tuple>

#include "devices/disk_image.h"
#include "devices/serial_backend.h"
#include "gtest/gtest.h"
#include "replay/machine_replayer.h"
#include "replica/fault_spec.h"
#include "tests/runfiles.h"
#include "tests/test_backends.h"
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
  std::optional<double> checkpoint_ms;
  // Feed `input` through a FIFO, one line every this many ms (0: a file).
  int input_line_ms = 0;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.label;
}

struct RunOutput {
  std::string output;
  std::string disk;  // the image after the run, when there is one
  std::optional<ReplicatedOutcome> replicated;
  int exit_status = -1;
};

// One run of `c` on `hv`, plain or replicated, with a fresh copy of its disk.
RunOutput RunCase(const Hypervisor& hv, const Case& c, bool replicated,
                  std::optional<FaultSpec> inject = std::nullopt,
                  double hang_timeout_seconds = 2,
                  std::vector<FaultSpec> also_inject = {},
                  const std::string& record = "") {
  const std::string tag = c.label + (replicated ? "_rep" : "_plain");
  const std::string out = TempPath(tag + ".out");
  SerialBackendSpec spec{.output = "file:" + out};
  std::optional<std::thread> writer;
  if (!c.input.empty() && c.input_line_ms == 0) {
    WriteBytes(TempPath(tag + ".in"), c.input);
    spec.input = "file:" + TempPath(tag + ".in");
  } else if (!c.input.empty()) {
    const std::string fifo = TempPath(tag + ".fifo");
    std::filesystem::remove(fifo);
    EXPECT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    spec.input = "file:" + fifo;
    writer.emplace([fifo, &c] {
      FILE* f = std::fopen(fifo.c_str(), "w");
      if (f == nullptr) return;
      size_t start = 0;
      while (start < c.input.size()) {
        size_t end = c.input.find('\n', start);
        end = end == std::string::npos ? c.input.size() : end + 1;
        std::fwrite(c.input.data() + start, 1, end - start, f);
        std::fflush(f);
        start = end;
        std::this_thread::sleep_for(std::chrono::milliseconds(c.input_line_ms));
      }
      std::fclose(f);
    });
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
  MachineConfig config;
  config.memory_bytes = 64ull << 20;
  config.platform.disk_sectors = env.disk_sectors();
  config.platform.rtc_epoch_seconds = 1'700'000'000;
  std::string image = ReadText(GuestPath(c.guest));
  std::span<const uint8_t> kernel(
      reinterpret_cast<const uint8_t*>(image.data()), image.size());
  RunOutput run;
  if (replicated) {
    ReplicaOptions options{.checkpoint_every = c.checkpoint_every,
                           .checkpoint_ms = c.checkpoint_ms,
                           .timeout_seconds = 60,
                           .hang_timeout_seconds = hang_timeout_seconds,
                           .inject = inject,
                           .also_inject = also_inject};
    if (!record.empty()) {
      options.record = ReplicaRecording{
          .path = record,
          .machine = {.kernel_name = c.guest,
                      .kernel_image = {kernel.begin(), kernel.end()},
                      .cmdline = c.cmdline}};
      options.record->options.checkpoint_interval = c.checkpoint_every;
    }
    auto r = RunReplicated(hv, config, kernel, c.guest, {.cmdline = c.cmdline},
                           env, options);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) {
      run.exit_status = r->result.exit_status;
      run.replicated = *r;
    }
  } else {
    auto m = Machine::Create(hv, config, &env);
    EXPECT_TRUE(m.ok());
    EXPECT_TRUE(
        (*m)->BootMultiboot(kernel, c.guest, {.cmdline = c.cmdline}).ok());
    env.StartClock((*m)->platform().clock().now_ns());
    auto r = RunMachine(**m, env, {.timeout_seconds = 60});
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(env.Finish().ok());
    if (r.ok()) run.exit_status = r->exit_status;
  }
  if (writer) writer->join();
  run.output = ReadText(out);
  if (c.disk_bytes) run.disk = ReadText(TempPath(tag + ".img"));
  return run;
}

// A case on a backend (testing::TestBackends()).
class ReplicatedRunTest
    : public ::testing::TestWithParam<std::tuple<Case, std::string>> {};

TEST_P(ReplicatedRunTest, SameOutputAsAPlainRunWithCheckpointsVerified) {
  XV_OPEN_NAMED_BACKEND_OR_SKIP(hv, std::get<1>(GetParam()));
  const Case& c = std::get<0>(GetParam());
  RunOutput plain = RunCase(*hv, c, /*replicated=*/false);
  RunOutput rep = RunCase(*hv, c, /*replicated=*/true);
  ASSERT_TRUE(rep.replicated);
  EXPECT_FALSE(rep.replicated->fail_safe) << *rep.replicated->fail_safe;
  EXPECT_TRUE(rep.replicated->divergences.empty())
      << rep.replicated->divergences[0].detail;
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

FaultSpec Fault(std::string_view spec) {
  auto f = ParseFaultSpec(spec, {.max_esn = 1, .memory_bytes = 64 << 20});
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

ReplicaRole RoleOf(const FaultSpec& f) { return f.replica; }

// Checks one injected run against the fault-free one: the same output byte
// for byte and the same exit status, nothing stopped fail-safe, and every
// divergence recovered by voting out the replica the fault was put in.
// Returns whether the fault was detected (false: masked).
bool ExpectMaskedOrRecovered(const RunOutput& clean, const RunOutput& rep,
                             const FaultSpec& fault) {
  const std::string spec = fault.ToString();
  EXPECT_TRUE(rep.replicated) << spec;
  if (!rep.replicated) return false;
  const ReplicatedOutcome& o = *rep.replicated;
  EXPECT_TRUE(o.injected) << spec << ": the run ended at ESN " << o.result.esn;
  EXPECT_FALSE(o.fail_safe) << spec << ": " << *o.fail_safe;
  EXPECT_EQ(rep.output, clean.output) << spec;
  EXPECT_EQ(rep.exit_status, clean.exit_status) << spec;
  for (const DivergenceEvent& d : o.divergences) {
    EXPECT_TRUE(d.recovered) << spec << ": " << d.detail;
    EXPECT_EQ(d.voted_out, RoleOf(fault)) << spec << ": " << d.detail;
    EXPECT_TRUE(d.recovery_ms) << spec;
  }
  return !o.divergences.empty();
}

// The other suites run on every backend (testing::TestBackends()).
class ReplicatedRunFaultTest : public ::testing::TestWithParam<std::string> {};
class ReplicatedRunRecordTest : public ::testing::TestWithParam<std::string> {};

const Case kKvstore{.label = "kvstore_fault",
                    .guest = "kvstore",
                    .input = ReadText(RunfilePath("guest/testdata/kvstore.in")),
                    .checkpoint_every = 50};

// Faults in the leader and in the follower, in registers and in memory,
// before the first checkpoint (ESN 30 < 50) and after two (ESN 120), a hang
// and a crash in each: every one is masked, or detected and recovered.
TEST_P(ReplicatedRunFaultTest, EachFaultIsMaskedOrRecoveredWithTheCleanOutput) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const RunOutput clean = RunCase(*hv, kKvstore, false);
  ASSERT_FALSE(clean.output.empty());
  struct Expectation {
    const char* spec;
    bool must_detect;
  };
  const Expectation faults[] = {
      {"reg:rip:2@30:leader", false},     {"reg:rip:2@120:follower", false},
      {"reg:rsp:3@30:follower", false},   {"reg:rax:9@120:leader", false},
      {"mem:0x1a5000:0@30:leader", true}, {"mem:0x200000:0@120:follower", true},
      {"hang@80:leader", true},           {"hang@80:follower", true},
      {"crash@30:leader", true},          {"crash@120:follower", true},
  };
  int detected = 0;
  for (const Expectation& e : faults) {
    const FaultSpec fault = Fault(e.spec);
    const RunOutput rep = RunCase(*hv, kKvstore, true, fault, 0.5);
    const bool d = ExpectMaskedOrRecovered(clean, rep, fault);
    if (e.must_detect) {
      EXPECT_TRUE(d) << e.spec << " went unnoticed";
    }
    detected += d;
  }
  RecordProperty("detected", std::to_string(detected));
}

// Faults that make the leader's own story wrong, found by the campaign:
// it ends early (the follower, running on to its next exit, is then one
// exit past it), it runs on past the guest's end, or it places serial
// input where the correct follower's UART has no room. The follower is
// right each time; the third replica must side with it, and the bytes the
// leader had taken must reach the guest all the same.
TEST_P(ReplicatedRunFaultTest,
       LeaderFaultsThatTheFollowerCannotFollowAreRecovered) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const Case compute{.label = "compute_leader",
                     .guest = "compute",
                     .cmdline = "mib=1",
                     .checkpoint_every = 50};
  struct Step {
    const Case* c;
    const char* spec;
  };
  for (const Step& step : {Step{&compute, "reg:rip:12@1:leader"},
                           Step{&compute, "reg:r8:2@118:leader"},
                           Step{&kKvstore, "reg:r8:59@158:leader"},
                           Step{&kKvstore, "reg:r15:20@104:leader"},
                           Step{&compute, "reg:rip:26@98:follower"},
                           Step{&kKvstore, "reg:rip:26@134:follower"},
                           Step{&kKvstore, "reg:r9:4@249:follower"}}) {
    const RunOutput clean = RunCase(*hv, *step.c, false);
    const FaultSpec fault = Fault(step.spec);
    const RunOutput rep = RunCase(*hv, *step.c, true, fault);
    EXPECT_TRUE(ExpectMaskedOrRecovered(clean, rep, fault)) << step.spec;
  }
}

// The leader hangs while commands keep arriving on the UART, one every
// 30 ms, through the hang, its detection and the recovery: the promoted
// follower takes every byte the hung leader had taken but not passed on,
// and kvstore answers every command exactly once.
TEST_P(ReplicatedRunFaultTest, InputArrivingDuringRecoveryIsNotLost) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  Case paced = kKvstore;
  paced.label = "kvstore_paced";
  paced.input_line_ms = 30;
  const RunOutput clean = RunCase(*hv, paced, false);
  for (const char* spec : {"hang@60:leader", "crash@60:leader"}) {
    const FaultSpec fault = Fault(spec);
    const RunOutput rep = RunCase(*hv, paced, true, fault, 0.3);
    EXPECT_TRUE(ExpectMaskedOrRecovered(clean, rep, fault)) << spec;
    EXPECT_EQ(rep.output, ReadText(RunfilePath("guest/testdata/kvstore.out")))
        << spec;
  }
}

// A fault in each replica, different ones, before the same checkpoint: the
// rebuilt replica agrees with neither, so there is no majority. (Faults
// one after the other are each recovered in turn.) The run stops fail-safe, and
// what was released is a prefix of the fault-free output, nothing the faulty
// replicas produced.
TEST_P(ReplicatedRunFaultTest, NoMajorityStopsFailSafeWithAVerifiedPrefix) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const RunOutput clean = RunCase(*hv, kKvstore, false);
  for (auto [first, second] :
       {std::pair{"mem:0x1a5000:0@120:leader", "mem:0x1a5000:1@120:follower"},
        std::pair{"reg:rsp:3@100:leader", "reg:rsp:4@100:follower"}}) {
    const RunOutput rep =
        RunCase(*hv, kKvstore, true, Fault(first), 0.5, {Fault(second)});
    ASSERT_TRUE(rep.replicated);
    const ReplicatedOutcome& o = *rep.replicated;
    EXPECT_TRUE(o.fail_safe) << first << " + " << second;
    ASSERT_FALSE(o.divergences.empty());
    EXPECT_FALSE(o.divergences.back().recovered);
    EXPECT_FALSE(o.divergences.back().voted_out);
    EXPECT_LT(rep.output.size(), clean.output.size());
    EXPECT_TRUE(clean.output.starts_with(rep.output))
        << first << " + " << second << " released:\n"
        << rep.output;
  }
}

// Disk writes pass the gate too: through a hung leader voted out (its
// pending writes dropped, the follower's released), the image ends exactly
// as after a plain run, every write applied once and in order.
TEST_P(ReplicatedRunFaultTest, DiskImageEndsAsAfterAPlainRun) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  const Case disk{.label = "disk_fault",
                  .guest = "disk",
                  .cmdline = "sectors=16",
                  .disk_bytes = 1 << 20,
                  .checkpoint_every = 200};
  const RunOutput clean = RunCase(*hv, disk, false);
  ASSERT_EQ(clean.disk.size(), 1u << 20);
  for (const char* spec :
       {"hang@3000:leader", "mem:0x1a5000:1@2000:follower"}) {
    const FaultSpec fault = Fault(spec);
    const RunOutput rep = RunCase(*hv, disk, true, fault, 0.3);
    EXPECT_TRUE(ExpectMaskedOrRecovered(clean, rep, fault)) << spec;
    EXPECT_TRUE(rep.disk == clean.disk) << spec << ": the images differ";
  }
}

// `--record`: the log holds only what the replicas verified, and replays
// with every output, checkpoint and the end checked — after a recovery
// that cut and re-queued a hung leader's inputs, and after a fail-safe stop
// (then up to the last verified checkpoint).
TEST_P(ReplicatedRunRecordTest, TheVerifiedLogReplays) {
  XV_OPEN_BACKEND_OR_SKIP(hv);
  struct Step {
    const char* label;
    std::optional<FaultSpec> fault;
    std::vector<FaultSpec> also;
  };
  for (const Step& step : {Step{"clean", std::nullopt, {}},
                           Step{"leader_hang", Fault("hang@80:leader"), {}},
                           Step{"no_majority",
                                Fault("reg:rsp:3@100:leader"),
                                {Fault("reg:rsp:4@100:follower")}}}) {
    const std::string log = TempPath(std::string(step.label) + ".xvlog");
    const RunOutput rep =
        RunCase(*hv, kKvstore, true, step.fault, 0.3, step.also, log);
    ASSERT_TRUE(rep.replicated);
    ASSERT_TRUE(rep.replicated->recorded) << step.label;
    auto replay = ReplayLog(*hv, log, {});
    ASSERT_TRUE(replay.ok()) << step.label << ": " << replay.status();
    EXPECT_FALSE(replay->divergence) << step.label;
    if (rep.replicated->fail_safe) {
      EXPECT_EQ(replay->result.reason, StopReason::kStopPoint) << step.label;
      EXPECT_LT(replay->result.esn, rep.replicated->result.esn);
    } else {
      EXPECT_EQ(replay->result.esn, rep.replicated->result.esn) << step.label;
      EXPECT_EQ(replay->final_state_hash, rep.replicated->final_state_hash);
      EXPECT_EQ(replay->counts.outputs, rep.replicated->recorded->outputs);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    BundledGuests, ReplicatedRunTest,
    ::testing::Combine(
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
            // Checkpoints by time only: the leader chooses them, the follower
            // learns them from the log.
            Case{.label = "timer_every_50ms",
                 .guest = "timer",
                 .cmdline = "ticks=30",
                 .checkpoint_every = 0,
                 .checkpoint_ms = 50},
            Case{.label = "memtouch",
                 .guest = "memtouch",
                 .cmdline = "mib=8 passes=2",
                 .checkpoint_every = 20},
            Case{.label = "vro", .guest = "vro"}),
        ::testing::ValuesIn(testing::TestBackends())),
    [](const auto& info) {
      return std::get<0>(info.param).label + "_" + std::get<1>(info.param);
    });

INSTANTIATE_TEST_SUITE_P(Backends, ReplicatedRunFaultTest,
                         ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Backends, ReplicatedRunRecordTest,
                         ::testing::ValuesIn(testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace xv
