// `xvirt record`, `replay` and `log` as a user runs them: JSON reports,
// exit statuses, host independence of replay, and bad logs. On every
// backend (tests/test_backends.h): each records and replays on its own
// `--backend`; a backend not usable here is skipped with the reason.
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/runfiles.h"
#include "tests/subprocess.h"
#include "tests/test_backends.h"
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

// Tests whose parameter is the backend: Run() runs xvirt with `--backend`
// set to it, Temp() names a scratch file of this backend's own.
class BackendCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { XV_SKIP_UNLESS_BACKEND_USABLE(GetParam()); }

  // xvirt `args` (a command that runs a guest) on this test's backend.
  xv::testing::ProcessResult Run(
      std::vector<std::string> args,
      const xv::testing::ProcessOptions& options = {}) const {
    args.insert(args.begin(), Xvirt());
    args.insert(args.end(), {"--backend", GetParam()});
    return RunProcess(args, options);
  }
  std::string Temp(const std::string& name) const {
    return TempPath(GetParam() + "_" + name);
  }
};

// A recorded kvstore session, shared by the tests below (one recording per
// backend).
class RecordReplayCliTest : public BackendCliTest {
 protected:
  void SetUp() override {
    BackendCliTest::SetUp();
    if (IsSkipped()) return;
    static auto* recordings =
        new std::map<std::string, xv::testing::ProcessResult>;
    log_ = Temp("kvstore.log");
    auto it = recordings->find(GetParam());
    if (it == recordings->end()) {
      auto r = Run({"record", GuestPath("kvstore"), "-o", log_,
                    "--checkpoint-every", "50", "--json"},
                   {.stdin_path = RunfilePath("guest/testdata/kvstore.in")});
      it = recordings->emplace(GetParam(), r).first;
    }
    record_ = it->second;
  }

  std::string log_;
  xv::testing::ProcessResult record_;
};

TEST_P(RecordReplayCliTest, RecordPrintsTheRunReportPlusTheLog) {
  ASSERT_EQ(record_.exit_status, 0) << record_.err;
  // With --json the guest's output goes to stderr, as for `run`.
  EXPECT_EQ(record_.err.substr(0, record_.err.find("xvirt:")),
            ReadText(RunfilePath("guest/testdata/kvstore.out")));
  nlohmann::json j = ParseJson(record_.out);
  EXPECT_EQ(j["backend"], GetParam());
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

TEST_P(RecordReplayCliTest, ReplayJsonVerifiesAndMatchesTheRecording) {
  auto r = Run({"replay", log_, "--json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  nlohmann::json rec = ParseJson(record_.out);
  nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["backend"], GetParam());
  EXPECT_EQ(j["recorded_backend"], GetParam());
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

TEST_P(RecordReplayCliTest, ReplayPrintsTheGuestOutputAndAVerifiedLine) {
  auto r = Run({"replay", log_});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(r.out, ReadText(RunfilePath("guest/testdata/kvstore.out")));
  EXPECT_THAT(r.err, MatchesRegex("verified: [0-9]+ inputs, [0-9]+ outputs, "
                                  "[0-9]+ checkpoints, final state hash "
                                  "[0-9a-f]{32}\n"));
}

TEST_P(RecordReplayCliTest, ReplayIgnoresTheHost) {
  // No stdin, another time zone, a different working directory and a
  // slower machine (another process competing) do not matter: replay has
  // no back-ends.
  auto r = Run({"replay", log_, "--json", "--quiet"},
               {.env = {{"TZ", "Pacific/Kiritimati"}}});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(ParseJson(r.out)["final_state_hash"],
            ParseJson(record_.out)["final_state_hash"]);
}

TEST_P(RecordReplayCliTest, UntilStopsEarly) {
  auto r = Run({"replay", log_, "--until", "120", "--json", "--quiet"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["esn"], 120);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["complete"], false);
  EXPECT_EQ(j["checkpoints"], 2);
}

TEST_P(RecordReplayCliTest, LogStatCountsRecordKinds) {
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

TEST_P(RecordReplayCliTest, LogDumpSelectsAnEsnRange) {
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

TEST_P(RecordReplayCliTest, CorruptLogIsRefusedNamingTheOffset) {
  std::string bytes = ReadText(log_);
  // A byte in the middle of the last frame's payload.
  bytes[bytes.size() - 20] ^= 0x40;
  const std::string bad = Temp("corrupt.log");
  WriteBytes(bad, bytes);
  for (const char* cmd : {"replay", "stat"}) {
    // `log stat` runs no guest and takes no --backend.
    auto r = std::string(cmd) == "stat" ? RunProcess({Xvirt(), "log", cmd, bad})
                                        : Run({cmd, bad});
    EXPECT_EQ(r.exit_status, 125) << cmd;
    EXPECT_THAT(r.err, MatchesRegex("xvirt: .*corrupt.log: frame at byte "
                                    "offset [0-9]+ \\(records from "
                                    "#[0-9]+\\): checksum mismatch.*\n"))
        << cmd;
  }
}

TEST_P(RecordReplayCliTest, WrongVersionAndNonLogsAreRefused) {
  std::string bytes = ReadText(log_);
  bytes[8] = 7;  // container version
  const std::string v7 = Temp("v7.log");
  WriteBytes(v7, bytes);
  auto r = Run({"replay", v7});
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("version 7"));

  auto elf = Run({"replay", GuestPath("hello")});
  EXPECT_EQ(elf.exit_status, 125);
  EXPECT_THAT(elf.err, HasSubstr("not an xvirt log"));

  auto missing = Run({"replay", Temp("nope.log")});
  EXPECT_EQ(missing.exit_status, 125);
  EXPECT_THAT(missing.err, HasSubstr("nope.log"));
}

TEST_P(RecordReplayCliTest, TruncatedLogReplaysWhatItHoldsAndSaysSo) {
  std::string bytes = ReadText(log_);
  const std::string torn = Temp("torn.log");
  WriteBytes(torn, bytes.substr(0, bytes.size() - 5));
  auto r = Run({"replay", torn, "--json", "--quiet"});
  EXPECT_EQ(r.exit_status, 122) << r.err;
  nlohmann::json j = ParseJson(r.out);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["complete"], false);
  EXPECT_THAT(r.err, HasSubstr("no End record"));
}

TEST_P(RecordReplayCliTest, RecordNeedsAnOutputLog) {
  auto r = Run({"record", GuestPath("hello")});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("-o LOG"));
  auto bad_dir =
      Run({"record", GuestPath("hello"), "-o", "/nonexistent/dir/x.log"});
  EXPECT_EQ(bad_dir.exit_status, 125);
  EXPECT_THAT(bad_dir.err, HasSubstr("/nonexistent/dir/x.log"));
}

TEST_P(RecordReplayCliTest, FromCheckpointReachesTheFullReplaysFinalState) {
  ASSERT_EQ(record_.exit_status, 0) << record_.err;
  nlohmann::json rec = ParseJson(record_.out);
  EXPECT_EQ(rec["log"]["checkpoint_files"], rec["log"]["checkpoints"]);
  auto full = Run({"replay", log_, "--json", "--quiet"});
  ASSERT_EQ(full.exit_status, 0) << full.err;
  auto part =
      Run({"replay", log_, "--from-checkpoint", "100", "--json", "--quiet"});
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

// A copy of the shared recording and its checkpoint files, to spoil, as
// `copy`.
std::string CopyRecording(const std::string& log, const std::string& copy) {
  std::filesystem::remove_all(copy + ".checkpoints");
  std::filesystem::copy_file(log, copy,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy(log + ".checkpoints", copy + ".checkpoints");
  return copy;
}

TEST_P(RecordReplayCliTest, BadCheckpointFilesAreRefusedClearly) {
  ASSERT_EQ(record_.exit_status, 0) << record_.err;
  const std::string log = CopyRecording(log_, Temp("spoilt.log"));
  const std::string file = log + ".checkpoints/100.xvcp";
  const std::string good = ReadText(file);
  auto replay_from_100 = [&] {
    return Run({"replay", log, "--from-checkpoint", "100", "--quiet"});
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
  const std::string other = Temp("other.log");
  auto rec2 = Run(
      {"record", GuestPath("kvstore"), "-o", other, "--checkpoint-every", "50"},
      {.stdin_path = RunfilePath("guest/testdata/kvstore.in")});
  ASSERT_EQ(rec2.exit_status, 0) << rec2.err;
  std::filesystem::copy_file(other + ".checkpoints/100.xvcp", file,
                             std::filesystem::copy_options::overwrite_existing);
  r = replay_from_100();
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("belongs to another recording"));

  // A checkpoint of a different guest.
  const std::string hello = Temp("hello.log");
  auto rec3 = Run(
      {"record", GuestPath("hello"), "-o", hello, "--checkpoint-every", "1"});
  ASSERT_EQ(rec3.exit_status, 0) << rec3.err;
  std::filesystem::copy_file(hello + ".checkpoints/2.xvcp", file,
                             std::filesystem::copy_options::overwrite_existing);
  r = replay_from_100();
  EXPECT_EQ(r.exit_status, 125);
  EXPECT_THAT(r.err, HasSubstr("belongs to another recording"));

  // An ESN with no checkpoint: a usage error listing the stored ones.
  r = Run({"replay", log, "--from-checkpoint", "77"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_THAT(r.err, HasSubstr("no checkpoint at ESN 77"));
  EXPECT_THAT(r.err, HasSubstr("stored: 50, 100, 150"));
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordReplayCliTest,
                         ::testing::ValuesIn(xv::testing::TestBackends()),
                         [](const auto& info) { return info.param; });

class RecordReplayDiskCliTest : public BackendCliTest {};

TEST_P(RecordReplayDiskCliTest, ReplayNeedsNoDiskImage) {
  const std::string image = Temp("disk.img");
  std::string content(1 << 20, '\0');
  std::mt19937 rng(5);
  for (char& c : content) c = static_cast<char>(rng());
  WriteBytes(image, content);
  const std::string log = Temp("disk.log");
  auto rec = Run({"record", GuestPath("disk"), "--disk", image, "--cmdline",
                  "sectors=16", "-o", log, "--json"});
  ASSERT_EQ(rec.exit_status, 0) << rec.err;
  std::filesystem::remove(image);
  auto rep = Run({"replay", log, "--json"});
  ASSERT_EQ(rep.exit_status, 0) << rep.err;
  EXPECT_EQ(ParseJson(rep.out)["final_state_hash"],
            ParseJson(rec.out)["final_state_hash"]);
  EXPECT_EQ(ParseJson(rep.out)["verified"], true);
}

TEST_P(RecordReplayDiskCliTest, RdtscGuestReplayExitsWithDivergence) {
  const std::string log = Temp("rdtsc.log");
  auto rec = Run({"record", GuestPath("testcases/rdtsc"), "-o", log});
  ASSERT_EQ(rec.exit_status, 0) << rec.err;
  auto rep = Run({"replay", log, "--json", "--quiet"});
  EXPECT_EQ(rep.exit_status, 121) << rep.err;
  nlohmann::json j = ParseJson(rep.out);
  EXPECT_EQ(j["verified"], false);
  ASSERT_TRUE(j["divergence"].is_object());
  for (const char* key : {"esn", "expected", "actual", "rip"}) {
    EXPECT_TRUE(j["divergence"].contains(key)) << key;
  }
  EXPECT_THAT(rep.err, HasSubstr("replay diverged at ESN"));
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordReplayDiskCliTest,
                         ::testing::ValuesIn(xv::testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace xv
