// Recording and replaying our Machine on the scripted fake backend (no
// hypervisor): a recording replays verified, also from its checkpoint
// files; a perturbed replay, a guest reading host state and a log from
// another recording are caught; a log made before the backend seam is
// refused with the version message. tests/record_replay_test does the same
// with real guests on every backend.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "checkpoint/checkpoint_file.h"
#include "devices/test_sinks.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hypervisor/fake_cpu.h"
#include "machine/machine.h"
#include "machine/run_loop.h"
#include "machine/scripted_inputs.h"
#include "machine/testing/fake_guests.h"
#include "replay/machine_recorder.h"
#include "replay/machine_replayer.h"
#include "tests/runfiles.h"

namespace xv {
namespace {

using ::testing::HasSubstr;
using ::xv::testing::FakeEcho;
using ::xv::testing::FakeHostReader;
using ::xv::testing::FakeKernelImage;
using ::xv::testing::FakeTicker;

std::string LogPath(const std::string& name) {
  return ::testing::TempDir() + "/" + name + ".xvlog";
}

struct Recording {
  std::string log;
  RunResult result;
  std::string output;
  std::optional<Hash128> final_state;
  uint64_t checkpoint_files = 0;
};

// Records `program` with host-independent inputs: a fixed clock step and
// `serial` fed to the UART.
Recording Record(const FakeHypervisor& hv, const std::string& name,
                 const std::string& serial, uint64_t checkpoint_every,
                 bool checkpoint_files = false) {
  Recording rec;
  rec.log = LogPath(name);
  RecordingOutputSink sink;
  MachineRecorder recorder(&sink);
  if (checkpoint_files) recorder.StoreCheckpointFiles();
  MachineConfig config;
  config.memory_bytes = 8 << 20;
  config.platform.rtc_epoch_seconds = 1'700'000'000;
  auto m = Machine::Create(hv, config, &recorder);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) return rec;
  const std::vector<uint8_t> image = FakeKernelImage();
  EXPECT_TRUE((*m)->BootMultiboot(image, "fake", {}).ok());
  RecorderOptions options;
  options.checkpoint_interval = checkpoint_every;
  EXPECT_TRUE(recorder
                  .Start(rec.log, **m,
                         {.kernel_name = "fake", .kernel_image = image},
                         options)
                  .ok());
  ScriptedInputs inputs(10'000, serial);
  auto r =
      RunMachine(**m, inputs, {.timeout_seconds = 60, .observer = &recorder});
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return rec;
  EXPECT_TRUE(recorder.Finish(**m, *r).ok());
  rec.result = *r;
  rec.output = sink.SerialText();
  rec.final_state = recorder.final_state_hash();
  rec.checkpoint_files = recorder.checkpoint_files();
  return rec;
}

ReplayOutcome Replay(const Hypervisor& hv, const std::string& log,
                     ReplayOptions options = {},
                     RecordingOutputSink* sink = nullptr) {
  options.outputs = sink;
  auto outcome = ReplayLog(hv, log, options);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return outcome.ok() ? *outcome : ReplayOutcome{};
}

TEST(MachineRecordReplayTest, AnEchoSessionReplaysVerified) {
  FakeHypervisor hv(FakeEcho());
  Recording rec = Record(hv, "echo", "hello, replay\nQ", 10);
  ASSERT_EQ(rec.result.reason, StopReason::kDebugExit) << rec.result.message;
  EXPECT_EQ(rec.output, "hello, replay\nQ");
  ASSERT_TRUE(rec.final_state);

  RecordingOutputSink sink;
  ReplayOutcome replay = Replay(hv, rec.log, {}, &sink);
  ASSERT_FALSE(replay.divergence) << replay.divergence->what;
  EXPECT_TRUE(replay.complete);
  EXPECT_EQ(sink.SerialText(), rec.output);
  EXPECT_EQ(replay.result.esn, rec.result.esn);
  ASSERT_TRUE(replay.final_state_hash);
  EXPECT_EQ(*replay.final_state_hash, *rec.final_state);
  EXPECT_GT(replay.counts.inputs, 15u);
  EXPECT_GE(replay.counts.checkpoints, 3u);
  EXPECT_EQ(replay.machine.backend, "fake");
  EXPECT_EQ(replay.backend, "fake");
}

// Interrupts are decided by the PIC from state, never logged: a guest that
// sleeps on timer interrupts replays with only clock inputs.
TEST(MachineRecordReplayTest, ATimerGuestReplaysVerified) {
  FakeHypervisor hv(FakeTicker(25));
  Recording rec = Record(hv, "ticker", "", 7);
  ASSERT_EQ(rec.result.reason, StopReason::kDebugExit) << rec.result.message;
  ReplayOutcome replay = Replay(hv, rec.log);
  ASSERT_FALSE(replay.divergence) << replay.divergence->what;
  EXPECT_TRUE(replay.complete);
  EXPECT_EQ(*replay.final_state_hash, *rec.final_state);
}

TEST(MachineRecordReplayTest, EveryCheckpointFileReplaysTheRest) {
  FakeHypervisor hv(FakeEcho());
  Recording rec = Record(hv, "echo_files", "checkpoints\nQ", 8, true);
  ASSERT_GE(rec.checkpoint_files, 3u);
  int replayed = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(CheckpointDirPath(rec.log))) {
    ReplayOptions options;
    options.from_checkpoint = entry.path();
    ReplayOutcome replay = Replay(hv, rec.log, options);
    ASSERT_FALSE(replay.divergence)
        << entry.path() << ": " << replay.divergence->what;
    EXPECT_TRUE(replay.complete) << entry.path();
    EXPECT_EQ(*replay.final_state_hash, *rec.final_state) << entry.path();
    ++replayed;
  }
  EXPECT_EQ(replayed, static_cast<int>(rec.checkpoint_files));
}

// Flips a register bit in the replayed machine at one rendezvous.
class FlipRbx : public RunObserver {
 public:
  explicit FlipRbx(uint64_t esn) : esn_(esn) {}
  absl::Status AtRendezvous(Machine& m) override {
    if (m.esn() != esn_) return absl::OkStatus();
    return m.cpu().ModifyRegs(
        [](GeneralRegisters& regs) { regs.rbx ^= 1ull << 40; });
  }

 private:
  uint64_t esn_;
};

TEST(MachineRecordReplayTest, APerturbedReplayDivergesAtTheNextCheckpoint) {
  FakeHypervisor hv(FakeTicker(30));
  Recording rec = Record(hv, "ticker_perturbed", "", 10);
  ASSERT_EQ(rec.result.reason, StopReason::kDebugExit);
  FlipRbx flip(25);
  ReplayOutcome replay = Replay(hv, rec.log, {.hook = &flip});
  ASSERT_TRUE(replay.divergence);
  EXPECT_EQ(replay.divergence->esn, 30u);  // the first checkpoint after 25
  EXPECT_EQ(replay.counts.last_verified_esn, 20u);
  EXPECT_FALSE(replay.complete);
}

// A replayed guest that went astray may no longer be able to take a
// recorded input (here: it stopped reading the UART, which still holds the
// last byte when the next one is due). That is a divergence at that input,
// not an error of the log.
TEST(MachineRecordReplayTest, AnInputTheReplayCannotTakeIsADivergence) {
  FakeHypervisor echo(FakeEcho());
  // No state hashes in between, so the input is the first thing to differ.
  Recording rec = Record(echo, "echo_rejected", "abcQ", 0);
  ASSERT_EQ(rec.result.reason, StopReason::kDebugExit);
  // The same machine, but its CPU only ever polls the UART's status.
  FakeProgram poller;
  poller.In(testing::kFakeUartLsr, "rax").Jump(0);
  FakeHypervisor astray(std::move(poller));
  ReplayOutcome replay = Replay(astray, rec.log);
  ASSERT_TRUE(replay.divergence);
  EXPECT_EQ(replay.divergence->what, "input serial_rx");
  EXPECT_THAT(replay.divergence->actual,
              HasSubstr("exceeds the 0 bytes the UART can take"));
  EXPECT_FALSE(replay.complete);
}

// A guest that reads host state (as RDTSC would) cannot replay: the state
// hash says so instead of replaying something else silently.
TEST(MachineRecordReplayTest, AGuestReadingHostStateIsCaught) {
  FakeHypervisor hv(FakeHostReader());
  Recording rec = Record(hv, "host_reader", "", 1);
  ASSERT_EQ(rec.result.reason, StopReason::kDebugExit) << rec.result.message;
  ReplayOutcome replay = Replay(hv, rec.log);
  ASSERT_TRUE(replay.divergence);
  EXPECT_EQ(replay.divergence->esn, 2u);
}

// A checkpoint file of one recording does not start the replay of another.
TEST(MachineRecordReplayTest, ACheckpointOfAnotherRecordingIsRefused) {
  FakeHypervisor hv(FakeEcho());
  Recording a = Record(hv, "echo_a", "aaaaQ", 4, true);
  Recording b = Record(hv, "echo_b", "aaaaQ", 4, true);
  ReplayOptions options;
  options.from_checkpoint = CheckpointFilePath(a.log, 8);
  auto replay = ReplayLog(hv, b.log, options);
  ASSERT_FALSE(replay.ok());
  EXPECT_THAT(replay.status().message(),
              HasSubstr("belongs to another recording"));
}

// A log recorded by xvirt before the backend seam (format 2: KVM state
// hashes): refused with a message that says what to do.
TEST(MachineRecordReplayTest, ALogOfAnOlderFormatIsRefused) {
  FakeHypervisor hv(FakeEcho());
  auto replay = ReplayLog(
      hv, testing::RunfilePath("replay/testdata/format2_hello.xvlog"), {});
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(replay.status().message(),
              HasSubstr("made by an older xvirt (format 2); re-record it"));
}

}  // namespace
}  // namespace xv
