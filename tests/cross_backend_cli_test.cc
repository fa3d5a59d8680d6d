// Logs and replicas across backends, through xvirt: a log recorded on one
// backend replays verified on the other (whole, and from its first, a
// middle and its last checkpoint file), and a replicated run with a KVM
// leader and an emulator follower verifies its checkpoints and recovers
// from a fault. Needs both backends: where KVM is not usable, every test
// here skips with that reason.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/runfiles.h"
#include "tests/subprocess.h"
#include "tests/test_backends.h"
#include "tests/test_files.h"

namespace xv {
namespace {

using xv::testing::GuestPath;
using xv::testing::RunfilePath;
using xv::testing::RunProcess;
using xv::testing::TempPath;

nlohmann::json ParseJson(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << text;
  return j;
}

xv::testing::ProcessResult Xvirt(std::vector<std::string> args,
                                 const xv::testing::ProcessOptions& o = {}) {
  args.insert(args.begin(), RunfilePath("cli/xvirt"));
  return RunProcess(args, o);
}

// Stderr without xvirt's own event lines: the guest's output (--json).
std::string WithoutXvirtLines(const std::string& err) {
  std::string out;
  size_t at = 0;
  while (at < err.size()) {
    size_t end = err.find('\n', at);
    end = end == std::string::npos ? err.size() : end + 1;
    if (err.compare(at, 7, "xvirt: ") != 0) out += err.substr(at, end - at);
    at = end;
  }
  return out;
}

void SkipUnlessBothBackends() {
  XV_SKIP_UNLESS_BACKEND_USABLE("kvm");
  XV_SKIP_UNLESS_BACKEND_USABLE("emu");
}

// The ESNs of a log's checkpoint files, in order.
std::vector<uint64_t> CheckpointEsns(const std::string& log) {
  std::vector<uint64_t> esns;
  for (const auto& e :
       std::filesystem::directory_iterator(log + ".checkpoints")) {
    esns.push_back(std::stoull(e.path().stem().string()));
  }
  std::sort(esns.begin(), esns.end());
  return esns;
}

struct Direction {
  const char* recorder;
  const char* replayer;
};

class CrossBackendReplayTest : public ::testing::TestWithParam<Direction> {};

TEST_P(CrossBackendReplayTest, ALogReplaysVerifiedOnTheOtherBackend) {
  SkipUnlessBothBackends();
  if (IsSkipped()) return;
  const Direction d = GetParam();
  const std::string log = TempPath(std::string(d.recorder) + "_kvstore.log");
  auto rec =
      Xvirt({"record", GuestPath("kvstore"), "-o", log, "--checkpoint-every",
             "40", "--backend", d.recorder, "--json"},
            {.stdin_path = RunfilePath("guest/testdata/kvstore.in")});
  ASSERT_EQ(rec.exit_status, 0) << rec.err;
  const nlohmann::json recorded = ParseJson(rec.out);

  auto whole = Xvirt({"replay", log, "--backend", d.replayer, "--json"});
  ASSERT_EQ(whole.exit_status, 0) << whole.err;
  nlohmann::json j = ParseJson(whole.out);
  EXPECT_EQ(j["backend"], d.replayer);
  EXPECT_EQ(j["recorded_backend"], d.recorder);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["complete"], true);
  EXPECT_EQ(j["esn"], recorded["esn"]);
  EXPECT_EQ(j["final_state_hash"], recorded["final_state_hash"]);

  const std::vector<uint64_t> esns = CheckpointEsns(log);
  ASSERT_GE(esns.size(), 3u);
  for (uint64_t from : {esns.front(), esns[esns.size() / 2], esns.back()}) {
    auto r = Xvirt({"replay", log, "--from-checkpoint", std::to_string(from),
                    "--backend", d.replayer, "--json"});
    ASSERT_EQ(r.exit_status, 0) << "from " << from << ": " << r.err;
    nlohmann::json f = ParseJson(r.out);
    EXPECT_EQ(f["verified"], true) << "from " << from;
    EXPECT_EQ(f["esn"], recorded["esn"]) << "from " << from;
    EXPECT_EQ(f["final_state_hash"], recorded["final_state_hash"])
        << "from " << from;
  }
}

INSTANTIATE_TEST_SUITE_P(Directions, CrossBackendReplayTest,
                         ::testing::Values(Direction{"kvm", "emu"},
                                           Direction{"emu", "kvm"}),
                         [](const auto& info) {
                           return std::string(info.param.recorder) + "_to_" +
                                  info.param.replayer;
                         });

// A KVM leader and an emulator follower: the same output as a plain run,
// every checkpoint verified; a crash of the follower is
// voted out and recovered.
TEST(MixedBackendReplicaTest, KvmLeaderEmulatorFollowerVerifyAndRecover) {
  SkipUnlessBothBackends();
  if (IsSkipped()) return;
  const std::string input = RunfilePath("guest/testdata/kvstore.in");
  auto plain =
      Xvirt({"run", GuestPath("kvstore"), "--backend", "kvm", "--json"},
            {.stdin_path = input});
  ASSERT_EQ(plain.exit_status, 0) << plain.err;
  auto mixed =
      Xvirt({"replicate", GuestPath("kvstore"), "--backend", "kvm",
             "--follower-backend", "emu", "--checkpoint-every", "50", "--json"},
            {.stdin_path = input});
  ASSERT_EQ(mixed.exit_status, 0) << mixed.err;
  nlohmann::json p = ParseJson(plain.out);
  nlohmann::json m = ParseJson(mixed.out);
  EXPECT_EQ(m["backend"], "kvm");
  EXPECT_EQ(m["follower_backend"], "emu");
  EXPECT_GT(m["checkpoints_verified"].get<int>(), 2);
  EXPECT_TRUE(m["divergences"].empty()) << mixed.out;
  // The guest's output (--json: on stderr). Final states of two live runs
  // are not compared: their inputs arrive at different exits.
  EXPECT_EQ(mixed.err, plain.err);

  auto fault = Xvirt({"replicate", GuestPath("kvstore"), "--backend", "kvm",
                      "--follower-backend", "emu", "--checkpoint-every", "50",
                      "--inject", "crash@90:follower", "--json"},
                     {.stdin_path = input});
  ASSERT_EQ(fault.exit_status, 0) << fault.err;
  nlohmann::json f = ParseJson(fault.out);
  ASSERT_EQ(f["divergences"].size(), 1u) << fault.out;
  EXPECT_EQ(f["divergences"][0]["voted_out"], "follower");
  EXPECT_EQ(f["divergences"][0]["outcome"], "recovered");
  EXPECT_EQ(WithoutXvirtLines(fault.err), plain.err);
}

}  // namespace
}  // namespace xv
