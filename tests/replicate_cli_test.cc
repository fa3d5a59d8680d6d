// `xvirt replicate` as a user runs it: the output of `run`, the JSON keys,
// and an injected fault stopping the run fail-safe.
#include <string>

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
using xv::testing::GuestPath;
using xv::testing::ReadText;
using xv::testing::RunfilePath;
using xv::testing::RunProcess;

std::string Xvirt() { return RunfilePath("cli/xvirt"); }

TEST(ReplicateCliTest, SameOutputAsRunAndTheReplicationReport) {
  XV_SKIP_WITHOUT_KVM();
  const std::string input = RunfilePath("guest/testdata/kvstore.in");
  auto run =
      RunProcess({Xvirt(), "run", GuestPath("kvstore")}, {.stdin_path = input});
  auto rep = RunProcess({Xvirt(), "replicate", GuestPath("kvstore"),
                         "--checkpoint-every", "100", "--json"},
                        {.stdin_path = input});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  ASSERT_EQ(rep.exit_status, 0) << rep.err;
  // With --json the guest's output goes to stderr, as for `run --json`.
  EXPECT_EQ(rep.err, run.out);
  EXPECT_EQ(run.out, ReadText(RunfilePath("guest/testdata/kvstore.out")));
  auto j = nlohmann::json::parse(rep.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << rep.out;
  for (const char* key :
       {"exit_code", "esn", "final_state_hash", "checkpoints_verified",
        "outputs_released", "divergences"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GE(j["checkpoints_verified"].get<int>(), 3);
  EXPECT_GT(j["outputs_released"].get<int>(), 0);
  EXPECT_TRUE(j["divergences"].empty());
}

TEST(ReplicateCliTest, AnInjectedFaultStopsTheRunFailSafe) {
  XV_SKIP_WITHOUT_KVM();
  const std::string input = RunfilePath("guest/testdata/kvstore.in");
  auto rep = RunProcess(
      {Xvirt(), "replicate", GuestPath("kvstore"), "--checkpoint-every", "20",
       "--inject", "reg:rip:4@60:follower", "--json"},
      {.stdin_path = input});
  EXPECT_EQ(rep.exit_status, 123) << rep.err;
  EXPECT_THAT(rep.err, HasSubstr("rip bit 4 flipped at ESN 60 (follower)"));
  EXPECT_THAT(rep.err, HasSubstr("diverged"));
  auto j = nlohmann::json::parse(rep.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << rep.out;
  ASSERT_EQ(j["divergences"].size(), 1u);
  EXPECT_EQ(j["divergences"][0]["outcome"], "fail_safe");
  // What was released is a verified prefix of the clean output.
  const std::string clean = ReadText(RunfilePath("guest/testdata/kvstore.out"));
  const std::string released = rep.err.substr(0, rep.err.find("xvirt:"));
  EXPECT_TRUE(clean.starts_with(released)) << released;

  auto bad = RunProcess(
      {Xvirt(), "replicate", GuestPath("kvstore"), "--inject", "flip@3"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_THAT(bad.err, HasSubstr("fault 'flip@3'"));
  // Refused, not left to wait forever.
  auto hang = RunProcess(
      {Xvirt(), "replicate", GuestPath("kvstore"), "--inject", "hang@10"},
      {.stdin_path = input});
  EXPECT_EQ(hang.exit_status, 2);
  EXPECT_THAT(hang.err, HasSubstr("hang detection"));
}

}  // namespace
}  // namespace xv
