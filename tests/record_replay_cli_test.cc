// `xvirt record`, `replay` and `log` as a user runs them: JSON reports,
// exit statuses, host independence of replay, and bad logs.
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvm/kvm_test_support.h"
#include "nlohmann/json.hpp"
#include "tests/runfiles.h"
#include "tests/subprocess.h"
#include "tests/test_files.h"

namespace xv {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using xv::testing::GuestPath;
using xv::testing::ReadText;
using xv::testing::RunfilePath;
using xv::testing::RunProcess;
using xv::testing::TempPath;
using xv::testing::WriteBytes;

std::string Xvirt() { return RunfilePath("cli/xvirt"); }

nlohmann::json ParseJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << text;
  return j;
}

// A recorded kvstore session, shared by the tests below.
class RecordReplayCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!xv::testing::KvmAvailability().ok()) return;
    log_ = TempPath("kvstore.log");
    auto r =
        RunProcess({Xvirt(), "record", GuestPath("kvstore"), "-o", log_,
                    "--checkpoint-every", "50", "--json"},
                   {.stdin_path = RunfilePath("guest/testdata/kvstore.in")});
    record_ = r;
  }
  void SetUp() override { XV_SKIP_WITHOUT_KVM(); }

  static std::string log_;
  static xv::testing::ProcessResult record_;
};
std::string RecordReplayCliTest::log_;
xv::testing::ProcessResult RecordReplayCliTest::record_;

TEST_F(RecordReplayCliTest, RecordPrintsTheRunReportPlusTheLog) {
  ASSERT_EQ(record_.exit_status, 0) << record_.err;
  // With --json the guest's output goes to stderr, as for `run`.
  EXPECT_EQ(record_.err.substr(0, record_.err.find("xvirt:")),
            ReadText(RunfilePath("guest/testdata/kvstore.out")));
  nlohmann::json j = ParseJson(record_.out);
  for (const char* key :
       {"exit_code", "esn", "exits", "wall_seconds", "final_state_hash"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["exit_code"], 0);
  EXPECT_GT(j["log"]["inputs"].get<int>(), 0);
  EXPECT_GT(j["log"]["checkpoints"].get<int>(), 0);
  EXPECT_EQ(j["log"]["bytes"].get<uint64_t>(),
            std::filesystem::file_size(log_));
}

TEST_F(RecordReplayCliTest, ReplayJsonVerifiesAndMatchesTheRecording) {
  auto r = RunProcess({Xvirt(), "replay", log_, "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  nlohmann::json rec = ParseJson(record_.out);
  nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["complete"], true);
  EXPECT_TRUE(j["divergence"].is_null());
  EXPECT_EQ(j["final_state_hash"], rec["final_state_hash"]);
  EXPECT_EQ(j["esn"], rec["esn"]);
  EXPECT_EQ(j["exit_code"], rec["exit_code"]);
  EXPECT_EQ(j["inputs"], rec["log"]["inputs"]);
  EXPECT_EQ(j["outputs"], rec["log"]["outputs"]);
  EXPECT_EQ(j["checkpoints"], rec["log"]["checkpoints"]);
  EXPECT_THAT(r.err,
              HasSubstr(ReadText(RunfilePath("guest/testdata/kvstore.out"))));
}

TEST_F(RecordReplayCliTest, ReplayPrintsTheGuestOutputAndAVerifiedLine) {
  auto r = RunProcess({Xvirt(), "replay", log_});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.out, ReadText(RunfilePath("guest/testdata/kvstore.out")));
  EXPECT_THAT(r.err, MatchesRegex("verified: [0-9]+ inputs, [0-9]+ outputs, "
                                  "[0-9]+ checkpoints, final state hash "
                                  "[0-9a-f]{32}\n"));
}

TEST_F(RecordReplayCliTest, ReplayIgnoresTheHost) {
  // No stdin, another time zone, a different working directory and a
  // slower machine (another process competing) do not matter: replay has
  // no back-ends.
  auto r = RunProcess({Xvirt(), "replay", log_, "--json", "--quiet"},
                      {.env = {{"TZ", "Pacific/Kiritimati"}}});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["final_state_hash"],
            ParseJson(record_.out)["final_state_hash"]);
}

TEST_F(RecordReplayCliTest, UntilStopsEarly) {
  auto r = RunProcess(
      {Xvirt(), "replay", log_, "--until", "120", "--json", "--quiet"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["esn"], 120);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["complete"], false);
  EXPECT_EQ(j["checkpoints"], 2);
}

TEST_F(RecordReplayCliTest, LogStatCountsRecordKinds) {
  auto r = RunProcess({Xvirt(), "log", "stat", log_, "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  nlohmann::json j = ParseJson(r.out);
  nlohmann::json rec = ParseJson(record_.out);
  EXPECT_EQ(j["by_kind"]["header"]["records"], 1);
  EXPECT_EQ(j["by_kind"]["end"]["records"], 1);
  EXPECT_EQ(j["by_kind"]["input"]["records"], rec["log"]["inputs"]);
  EXPECT_EQ(j["by_kind"]["checkpoint"]["records"], rec["log"]["checkpoints"]);
  EXPECT_GT(j["inputs"]["serial_rx"]["records"].get<int>(), 0);
  EXPECT_GT(j["compression_ratio"].get<double>(), 1.0);
  EXPECT_EQ(j["exits"], rec["esn"]);
  EXPECT_EQ(j["complete"], true);
  auto text = RunProcess({Xvirt(), "log", "stat", log_});
  EXPECT_EQ(text.exit_status, 0);
  EXPECT_THAT(text.out, HasSubstr("compression:"));
}

TEST_F(RecordReplayCliTest, LogDumpSelectsAnEsnRange) {
  auto r = RunProcess(
      {Xvirt(), "log", "dump", log_, "--from", "100", "--to", "150", "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto lines = xv::testing::Lines(r.out);
  ASSERT_GT(lines.size(), 2u);
  EXPECT_EQ(ParseJson(lines[0])["kind"], "header");
  bool saw_checkpoint = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    nlohmann::json j = ParseJson(lines[i]);
    EXPECT_GE(j["esn"].get<int>(), 100);
    EXPECT_LE(j["esn"].get<int>(), 150);
    saw_checkpoint |= j["kind"] == "checkpoint";
  }
  EXPECT_TRUE(saw_checkpoint);
  auto text = RunProcess({Xvirt(), "log", "dump", log_, "--to", "3"});
  EXPECT_EQ(text.exit_status, 0);
  EXPECT_THAT(text.out, HasSubstr("header"));
}

TEST_F(RecordReplayCliTest, CorruptLogIsRefusedNamingTheOffset) {
  std::string bytes = ReadText(log_);
  // A byte in the middle of the last frame's payload.
  bytes[bytes.size() - 20] ^= 0x40;
  const std::string bad = TempPath("corrupt.log");
  WriteBytes(bad, bytes);
  for (const char* cmd : {"replay", "stat"}) {
    std::vector<std::string> argv = {Xvirt()};
    if (std::string(cmd) == "stat") argv.push_back("log");
    argv.insert(argv.end(), {cmd, bad});
    auto r = RunProcess(argv);
    EXPECT_EQ(r.exit_status, 125) << cmd;
    EXPECT_THAT(r.err, MatchesRegex("xvirt: .*corrupt.log: frame at byte "
                                    "offset [0-9]+ \\(records from "
                                    "#[0-9]+\\): checksum mismatch.*\n"))
        << cmd;
  }
}

TEST_F(RecordReplayCliTest, WrongVersionAndNonLogsAreRefused) {
  std::string bytes = ReadText(log_);
  bytes[8] = 7;  // container version
  const std::string v7 = TempPath("v7.log");
  WriteBytes(v7, bytes);
  auto r = RunProcess({Xvirt(), "replay", v7});
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("version 7"));

  auto elf = RunProcess({Xvirt(), "replay", GuestPath("hello")});
  EXPECT_EQ(elf.exit_status, 125);
  EXPECT_THAT(elf.err, HasSubstr("not an xvirt log"));

  auto missing = RunProcess({Xvirt(), "replay", TempPath("nope.log")});
  EXPECT_EQ(missing.exit_status, 125);
  EXPECT_THAT(missing.err, HasSubstr("nope.log"));
}

TEST_F(RecordReplayCliTest, TruncatedLogReplaysWhatItHoldsAndSaysSo) {
  std::string bytes = ReadText(log_);
  const std::string torn = TempPath("torn.log");
  WriteBytes(torn, bytes.substr(0, bytes.size() - 5));
  auto r = RunProcess({Xvirt(), "replay", torn, "--json", "--quiet"});
  EXPECT_EQ(r.exit_status, 122) << r.err;
  nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["complete"], false);
  EXPECT_THAT(r.err, HasSubstr("no End record"));
}

TEST_F(RecordReplayCliTest, RecordNeedsAnOutputLog) {
  auto r = RunProcess({Xvirt(), "record", GuestPath("hello")});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("-o LOG"));
  auto bad_dir = RunProcess(
      {Xvirt(), "record", GuestPath("hello"), "-o", "/nonexistent/dir/x.log"});
  EXPECT_EQ(bad_dir.exit_status, 125);
  EXPECT_THAT(bad_dir.err, HasSubstr("/nonexistent/dir/x.log"));
}

TEST_F(RecordReplayCliTest, FromCheckpointReachesTheFullReplaysFinalState) {
  ASSERT_EQ(record_.exit_status, 0) << record_.err;
  nlohmann::json rec = ParseJson(record_.out);
  EXPECT_EQ(rec["log"]["checkpoint_files"], rec["log"]["checkpoints"]);
  auto full = RunProcess({Xvirt(), "replay", log_, "--json", "--quiet"});
  ASSERT_EQ(full.exit_status, 0) << full.err;
  auto part = RunProcess({Xvirt(), "replay", log_, "--from-checkpoint", "100",
                          "--json", "--quiet"});
  ASSERT_EQ(part.exit_status, 0) << part.err;
  nlohmann::json jf = ParseJson(full.out), jp = ParseJson(part.out);
  EXPECT_EQ(jp["from_checkpoint"], 100);
  EXPECT_TRUE(jf["from_checkpoint"].is_null());
  EXPECT_EQ(jp["verified"], true);
  EXPECT_EQ(jp["complete"], true);
  EXPECT_EQ(jp["final_state_hash"], jf["final_state_hash"]);
  EXPECT_EQ(jp["esn"], jf["esn"]);
  EXPECT_LT(jp["inputs"].get<int>(), jf["inputs"].get<int>());
}

// A copy of the shared recording and its checkpoint files, to spoil.
std::string CopyRecording(const std::string& log, const std::string& name) {
  std::string copy = TempPath(name);
  std::filesystem::remove_all(copy + ".checkpoints");
  std::filesystem::copy_file(log, copy,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy(log + ".checkpoints", copy + ".checkpoints");
  return copy;
}

TEST_F(RecordReplayCliTest, BadCheckpointFilesAreRefusedClearly) {
  ASSERT_EQ(record_.exit_status, 0) << record_.err;
  const std::string log = CopyRecording(log_, "spoilt.log");
  const std::string file = log + ".checkpoints/100.xvcp";
  const std::string good = ReadText(file);
  auto replay_from_100 = [&] {
    return RunProcess(
        {Xvirt(), "replay", log, "--from-checkpoint", "100", "--quiet"});
  };

  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x10;
  WriteBytes(file, flipped);
  auto r = replay_from_100();
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("100.xvcp"));
  EXPECT_THAT(r.err, HasSubstr("checksum"));

  WriteBytes(file, good.substr(0, good.size() * 2 / 3));
  r = replay_from_100();
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("100.xvcp"));
  EXPECT_THAT(r.err, HasSubstr("truncated"));

  // A checkpoint of another recording (another session of the same guest)
  // put where this one's belongs.
  const std::string other = TempPath("other.log");
  auto rec2 =
      RunProcess({Xvirt(), "record", GuestPath("kvstore"), "-o", other,
                  "--checkpoint-every", "50"},
                 {.stdin_path = RunfilePath("guest/testdata/kvstore.in")});
  ASSERT_EQ(rec2.exit_status, 0) << rec2.err;
  std::filesystem::copy_file(other + ".checkpoints/100.xvcp", file,
                             std::filesystem::copy_options::overwrite_existing);
  r = replay_from_100();
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("belongs to another recording"));

  // A checkpoint of a different guest.
  const std::string hello = TempPath("hello.log");
  auto rec3 = RunProcess({Xvirt(), "record", GuestPath("hello"), "-o", hello,
                          "--checkpoint-every", "1"});
  ASSERT_EQ(rec3.exit_status, 0) << rec3.err;
  std::filesystem::copy_file(hello + ".checkpoints/2.xvcp", file,
                             std::filesystem::copy_options::overwrite_existing);
  r = replay_from_100();
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("belongs to another recording"));

  // An ESN with no checkpoint: a usage error listing the stored ones.
  r = RunProcess({Xvirt(), "replay", log, "--from-checkpoint", "77"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("no checkpoint at ESN 77"));
  EXPECT_THAT(r.err, HasSubstr("stored: 50, 100, 150"));
}

TEST(RecordReplayDiskCliTest, ReplayNeedsNoDiskImage) {
  XV_SKIP_WITHOUT_KVM();
  const std::string image = TempPath("disk.img");
  std::string content(1 << 20, '\0');
  std::mt19937 rng(5);
  for (char& c : content) c = static_cast<char>(rng());
  WriteBytes(image, content);
  const std::string log = TempPath("disk.log");
  auto rec = RunProcess({Xvirt(), "record", GuestPath("disk"), "--disk", image,
                         "--cmdline", "sectors=16", "-o", log, "--json"});
  ASSERT_EQ(rec.exit_status, 0) << rec.err;
  std::filesystem::remove(image);
  auto rep = RunProcess({Xvirt(), "replay", log, "--json"});
  ASSERT_EQ(rep.exit_status, 0) << rep.err;
  EXPECT_EQ(ParseJson(rep.out)["final_state_hash"],
            ParseJson(rec.out)["final_state_hash"]);
  EXPECT_EQ(ParseJson(rep.out)["verified"], true);
}

TEST(RecordReplayDiskCliTest, RdtscGuestReplayExitsWithDivergence) {
  XV_SKIP_WITHOUT_KVM();
  const std::string log = TempPath("rdtsc.log");
  auto rec =
      RunProcess({Xvirt(), "record", GuestPath("testcases/rdtsc"), "-o", log});
  ASSERT_EQ(rec.exit_status, 0) << rec.err;
  auto rep = RunProcess({Xvirt(), "replay", log, "--json", "--quiet"});
  EXPECT_EQ(rep.exit_status, 121) << rep.err;
  nlohmann::json j = ParseJson(rep.out);
  EXPECT_EQ(j["verified"], false);
  ASSERT_TRUE(j["divergence"].is_object());
  for (const char* key : {"esn", "expected", "actual", "rip"}) {
    EXPECT_TRUE(j["divergence"].contains(key)) << key;
  }
  EXPECT_THAT(rep.err, HasSubstr("replay diverged at ESN"));
}

}  // namespace
}  // namespace xv
