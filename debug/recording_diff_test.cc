// RecordingDiff on real kvstore recordings made on the emulator: the
// logged comparison names the one command that differs, and the replayed
// comparison finds a register flipped at a known exit, to the instruction.
#include "debug/recording_diff.h"

#include <memory>
#include <string>

#include "debug/code_listing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "session/backend_choice.h"
#include "session/live_run.h"
#include "tests/runfiles.h"
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

TEST_F(RecordingDiffTest, FindsAFlippedRegisterAtTheInstruction) {
  // Exit 30's rendezvous, with rbx bit 5 flipped in the second run only:
  // the states agree at every exit before it and at every instruction up
  // to it, and differ there in rbx alone.
  constexpr uint64_t kFaultEsn = 30;
  auto good = Open(*log_a_);
  auto faulty = Open(*log_a_, {.flip = SessionOptions::RegisterFlip{
                                   .esn = kFaultEsn, .reg = "rbx", .bit = 5}});
  ASSERT_NE(good, nullptr);
  ASSERT_NE(faulty, nullptr);
  auto located = LocateStateDifference(*good, *faulty, [](uint64_t) {});
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
  ASSERT_TRUE(faulty->SeekTime(d.time - 1).ok());
  auto before = DescribeStateDifference(*good, *faulty);
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

TEST_F(RecordingDiffTest, AFlipAfterTheLastExitIsNotFound) {
  // The states never differ at a point both runs reach.
  auto a = LoggedRecording::Read(*log_a_);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->end.has_value());
  auto good = Open(*log_a_);
  auto flipped = Open(*log_a_, {.flip = SessionOptions::RegisterFlip{
                                    .esn = a->end->esn + 1, .reg = "rax"}});
  ASSERT_NE(good, nullptr);
  ASSERT_NE(flipped, nullptr);
  auto located = LocateStateDifference(*good, *flipped, [](uint64_t) {});
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_FALSE(located->has_value());
}

TEST_F(RecordingDiffTest, RejectsAFlipOfNoRegister) {
  auto s = ReplaySession::Open(
      *emu_, *log_a_,
      {.flip = SessionOptions::RegisterFlip{.esn = 3, .reg = "xmm0"}});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("'xmm0'"));
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
