// RecordingDiff on real kvstore recordings made on the emulator: the
// logged comparison names the one command that differs, and the replayed
// comparison finds a register flipped at a known exit (a what-if run of the
// recording, recorded with its fault on each backend), to the instruction.
#include "debug/recording_diff.h"

#include <memory>
#include <string>

#include "debug/code_listing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/machine_replayer.h"
#include "replay/what_if_run.h"
#include "session/backend_choice.h"
#include "session/live_run.h"
#include "tests/runfiles.h"
#include "tests/test_backends.h"
#include "tests/test_files.h"

namespace xv {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::xv::testing::GuestPath;
using ::xv::testing::TempPath;
using ::xv::testing::WriteBytes;
using Kind = LoggedDifference::Kind;

// Records kvstore fed `session` on the emulator; returns the log path.
std::string RecordKvstore(const std::string& name, const std::string& session) {
  std::string log = TempPath(name + ".log");
  const std::string in = TempPath(name + ".in");
  WriteBytes(in, session);
  RunSettings settings;
  settings.kernel_path = GuestPath("kvstore");
  settings.memory_bytes = 16ull << 20;
  settings.timeout_seconds = 60;
  settings.rtc_epoch_seconds = 1'700'000'000;
  settings.serial.input = "file:" + in;
  settings.serial.output = "file:" + TempPath(name + ".out");
  settings.backend = "emu";
  RecordRequest request{.log_path = log};
  auto outcome = RunGuestLive(settings, nullptr, true, &request);
  EXPECT_TRUE(outcome.ok()) << outcome.status();
  return log;
}

constexpr char kSessionA[] = "SET x 10\nSET y 20\nGET x\nQUIT\n";
// The same session with one command changed: byte 15 ("2" -> "7").
constexpr char kSessionB[] = "SET x 10\nSET y 70\nGET x\nQUIT\n";
constexpr size_t kChangedByte = 15;

class RecordingDiffTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    log_a_ = new std::string(RecordKvstore("a", kSessionA));
    log_b_ = new std::string(RecordKvstore("b", kSessionB));
  }
  static void TearDownTestSuite() {
    delete log_a_;
    delete log_b_;
  }
  void SetUp() override {
    auto emu = OpenBackend("emu");
    ASSERT_TRUE(emu.ok()) << emu.status();
    emu_ = std::move(*emu);
  }
  std::unique_ptr<ReplaySession> Open(const std::string& log,
                                      SessionOptions options = {}) {
    auto s = ReplaySession::Open(*emu_, log, options);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static std::string* log_a_;
  static std::string* log_b_;
  std::unique_ptr<Hypervisor> emu_;
};
std::string* RecordingDiffTest::log_a_ = nullptr;
std::string* RecordingDiffTest::log_b_ = nullptr;

// The ESN at which `log` delivered byte `index` of the serial stream, read
// from its inputs directly.
uint64_t EsnOfSerialByte(const LoggedRecording& log, size_t index) {
  size_t seen = 0;
  for (const LoggedInput& in : log.inputs) {
    if (in.input.kind != InputKind::kSerialRx) continue;
    seen += in.input.data.size();
    if (seen > index) return in.esn;
  }
  ADD_FAILURE() << "the log holds only " << seen << " serial bytes";
  return 0;
}

TEST_F(RecordingDiffTest, NamesTheCommandThatDiffersAtItsEsn) {
  auto a = LoggedRecording::Read(*log_a_);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = LoggedRecording::Read(*log_b_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(CompareHeaders(a->header, b->header), IsEmpty());
  const std::vector<LoggedDifference> logged = CompareLogged(*a, *b);
  const LoggedDifference* input = nullptr;
  for (const LoggedDifference& d : logged) {
    if (d.kind == Kind::kInput) input = &d;
  }
  ASSERT_NE(input, nullptr);
  EXPECT_EQ(input->what, "serial_rx byte " + std::to_string(kChangedByte));
  EXPECT_EQ(input->esn_a, EsnOfSerialByte(*a, kChangedByte));
  EXPECT_EQ(input->esn_b, EsnOfSerialByte(*b, kChangedByte));
  EXPECT_THAT(input->a, ::testing::StartsWith("\"20\\nGET x"));
  EXPECT_THAT(input->b, ::testing::StartsWith("\"70\\nGET x"));
}

TEST_F(RecordingDiffTest, NamesTheDeviceFieldTheDifferingInputFilled) {
  // Right after the differing command's bytes arrived, the UART's receive
  // FIFO holds them: diff names that field (other devices may differ too,
  // by the clock: two recordings never share their timing).
  auto a = LoggedRecording::Read(*log_a_);
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = LoggedRecording::Read(*log_b_);
  ASSERT_TRUE(b.ok()) << b.status();
  const uint64_t esn = EsnOfSerialByte(*a, kChangedByte);
  ASSERT_EQ(esn, EsnOfSerialByte(*b, kChangedByte));
  auto sa = Open(*log_a_);
  auto sb = Open(*log_b_);
  ASSERT_NE(sa, nullptr);
  ASSERT_NE(sb, nullptr);
  ASSERT_TRUE(sa->SeekPosition({.esn = esn}).ok());
  ASSERT_TRUE(sb->SeekPosition({.esn = esn}).ok());
  auto d = DescribeStateDifference(*sa, *sb);
  ASSERT_TRUE(d.ok()) << d.status();
  const DeviceDifference* uart = nullptr;
  for (const DeviceDifference& device : d->devices) {
    EXPECT_FALSE(device.fields.empty()) << device.device;
    if (device.device == "uart0") uart = &device;
  }
  ASSERT_NE(uart, nullptr);
  ASSERT_EQ(uart->fields.size(), 1u);
  EXPECT_EQ(uart->fields[0].name, "rx_fifo");
  EXPECT_NE(uart->fields[0].value_a, uart->fields[0].value_b);
}

TEST_F(RecordingDiffTest, ALogAgainstItselfDiffersInNothing) {
  auto a = LoggedRecording::Read(*log_a_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_THAT(CompareLogged(*a, *a), IsEmpty());
  auto s1 = Open(*log_a_);
  auto s2 = Open(*log_a_);
  ASSERT_NE(s1, nullptr);
  ASSERT_NE(s2, nullptr);
  uint64_t exits = 0;
  auto located =
      LocateStateDifference(*s1, *s2, [&](uint64_t esn) { exits = esn; });
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_FALSE(located->has_value());
  ASSERT_TRUE(a->end.has_value());
  EXPECT_EQ(exits, a->end->esn);  // every exit was compared
}

// A faulty run of recording A (rbx bit 5 flipped after exit 30), recorded
// on each backend: its log carries the fault and replays verified, and diff
// finds the fault by state, at the instruction, in rbx alone.
class FaultyRecordingTest : public RecordingDiffTest,
                            public ::testing::WithParamInterface<std::string> {
 protected:
  static constexpr uint64_t kFaultEsn = 30;
  const LoggedFault fault_{.esn = kFaultEsn, .reg = "rbx", .bit = 5};
};

TEST_P(FaultyRecordingTest, ReplaysAndIsFoundAtTheInstruction) {
  XV_OPEN_BACKEND_OR_SKIP(backend);
  const std::string faulty_log = TempPath("faulty_" + GetParam() + ".log");
  auto what_if = RecordWithFault(*backend, *log_a_, fault_, faulty_log,
                                 {.timeout_seconds = 60});
  ASSERT_TRUE(what_if.ok()) << what_if.status();
  EXPECT_TRUE(what_if->fault_applied);

  // The log says what was done, and replays as it ran, on both backends
  // where they exist.
  auto faulty = LoggedRecording::Read(faulty_log);
  ASSERT_TRUE(faulty.ok()) << faulty.status();
  EXPECT_THAT(faulty->faults, ElementsAre(fault_));
  for (const std::string& name : ::xv::testing::TestBackends()) {
    auto replayer = ::xv::testing::OpenTestBackend(name);
    if (!replayer.ok()) continue;
    auto replayed = ReplayLog(**replayer, faulty_log, {});
    ASSERT_TRUE(replayed.ok()) << replayed.status();
    EXPECT_FALSE(replayed->divergence.has_value())
        << name << ": " << replayed->divergence->what;
    EXPECT_TRUE(replayed->complete) << name;
  }

  // The logs differ first in the fault; the inputs before it are A's.
  auto a = LoggedRecording::Read(*log_a_);
  ASSERT_TRUE(a.ok()) << a.status();
  const std::vector<LoggedDifference> logged = CompareLogged(*a, *faulty);
  ASSERT_FALSE(logged.empty());
  EXPECT_EQ(logged[0].kind, Kind::kFault);
  EXPECT_EQ(logged[0].esn_b, kFaultEsn);
  for (const LoggedDifference& d : logged) {
    EXPECT_NE(d.kind, Kind::kTiming) << d.what;  // the same inputs
  }

  // The states: equal at every exit and instruction before the fault's
  // rendezvous, different there in rbx alone.
  auto good = Open(*log_a_);
  auto bad = Open(faulty_log);
  ASSERT_NE(good, nullptr);
  ASSERT_NE(bad, nullptr);
  auto located = LocateStateDifference(*good, *bad, [](uint64_t) {});
  ASSERT_TRUE(located.ok()) << located.status();
  ASSERT_TRUE(located->has_value());
  const StateDifference& d = **located;
  EXPECT_EQ(d.position_a, (Position{.esn = kFaultEsn}));
  EXPECT_EQ(d.position_b, (Position{.esn = kFaultEsn}));
  EXPECT_EQ(std::optional(d.time), good->ExitTime(kFaultEsn));
  ASSERT_EQ(d.registers.size(), 1u);
  EXPECT_EQ(d.registers[0].name, "rbx");
  EXPECT_EQ(d.registers[0].a ^ d.registers[0].b, uint64_t{1} << 5);
  EXPECT_FALSE(d.other_cpu_state);
  EXPECT_EQ(d.pages_differing, 0u);
  EXPECT_THAT(d.devices, IsEmpty());
  EXPECT_FALSE(d.clock);

  // One instruction earlier the two agree: the point is the first.
  ASSERT_TRUE(good->SeekTime(d.time - 1).ok());
  ASSERT_TRUE(bad->SeekTime(d.time - 1).ok());
  auto before = DescribeStateDifference(*good, *bad);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_THAT(before->registers, IsEmpty());

  // The instruction there, as diff shows it: the one at the good run's RIP.
  ASSERT_TRUE(good->SeekTime(d.time).ok());
  auto cpu = good->machine().CaptureCpu();
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  const KernelSymbols symbols =
      KernelSymbols::Of(good->recording().kernel_image);
  auto code = ListCodeAround(*good, cpu->arch, symbols, 2, 2);
  ASSERT_TRUE(code.ok()) << code.status();
  int at_rip = 0;
  for (const ListedInstruction& insn : *code) {
    if (!insn.at_rip) continue;
    ++at_rip;
    EXPECT_EQ(insn.address, cpu->arch.regs.rip);
    EXPECT_FALSE(insn.text.empty());
  }
  EXPECT_EQ(at_rip, 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, FaultyRecordingTest,
                         ::testing::ValuesIn(::xv::testing::TestBackends()),
                         [](const auto& info) { return info.param; });

TEST_F(RecordingDiffTest, AFaultPastTheEndIsNotInjected) {
  auto a = LoggedRecording::Read(*log_a_);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->end.has_value());
  const std::string out = TempPath("never.log");
  auto what_if = RecordWithFault(
      *emu_, *log_a_, {.esn = a->end->esn + 1, .reg = "rax", .bit = 0}, out,
      {.timeout_seconds = 60});
  ASSERT_TRUE(what_if.ok()) << what_if.status();
  EXPECT_FALSE(what_if->fault_applied);
}

TEST_F(RecordingDiffTest, RejectsAFaultOfNoRegister) {
  auto what_if =
      RecordWithFault(*emu_, *log_a_, {.esn = 3, .reg = "xmm0", .bit = 0},
                      TempPath("xmm0.log"), {});
  ASSERT_FALSE(what_if.ok());
  EXPECT_THAT(what_if.status().message(), HasSubstr("'xmm0'"));
}

TEST(CompareHeadersTest, NamesTheFieldsThatDiffer) {
  RecordedMachine a{.kernel_name = "kvstore.elf",
                    .kernel_image = {1, 2, 3},
                    .cmdline = "",
                    .memory_bytes = 16 << 20};
  RecordedMachine b = a;
  b.cmdline = "mib=2";
  b.recorded_at_unix_ns = 5;  // who and when are not the machine
  b.backend = "kvm";
  EXPECT_THAT(CompareHeaders(a, b),
              ElementsAre(Field(&HeaderDifference::field, "cmdline")));
  EXPECT_TRUE(StatesComparable(a, b));
  b.memory_bytes = 32 << 20;
  EXPECT_FALSE(StatesComparable(a, b));
}

}  // namespace
}  // namespace xv
