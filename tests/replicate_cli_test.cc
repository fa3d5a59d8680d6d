// `xvirt replicate` as a user runs it: the output of `run`, the JSON keys,
// and an injected fault detected and recovered. On every backend
// (tests/test_backends.h), each through its own `--backend`; a backend not
// usable here is skipped with the reason.
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

using ::testing::HasSubstr;
using xv::testing::GuestPath;
using xv::testing::ReadText;
using xv::testing::RunfilePath;
using xv::testing::RunProcess;

std::string Xvirt() { return RunfilePath("cli/xvirt"); }

// The parameter is the backend; Run() runs xvirt with `--backend` set to it.
class ReplicateCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { XV_SKIP_UNLESS_BACKEND_USABLE(GetParam()); }

  xv::testing::ProcessResult Run(
      std::vector<std::string> args,
      const xv::testing::ProcessOptions& options = {}) const {
    args.insert(args.begin(), Xvirt());
    args.insert(args.end(), {"--backend", GetParam()});
    return RunProcess(args, options);
  }
};

TEST_P(ReplicateCliTest, SameOutputAsRunAndTheReplicationReport) {
  const std::string input = RunfilePath("guest/testdata/kvstore.in");
  auto run = Run({"run", GuestPath("kvstore")}, {.stdin_path = input});
  auto rep = Run({"replicate", GuestPath("kvstore"), "--checkpoint-every",
                  "100", "--json"},
                 {.stdin_path = input});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  ASSERT_EQ(rep.exit_status, 0) << rep.err;
  // With --json the guest's output goes to stderr, as for `run --json`.
  EXPECT_EQ(rep.err, run.out);
  EXPECT_EQ(run.out, ReadText(RunfilePath("guest/testdata/kvstore.out")));
  auto j = nlohmann::json::parse(rep.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << rep.out;
  EXPECT_EQ(j["backend"], GetParam());
  for (const char* key :
       {"exit_code", "esn", "final_state_hash", "checkpoints_verified",
        "outputs_released", "divergences"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_GE(j["checkpoints_verified"].get<int>(), 3);
  EXPECT_GT(j["outputs_released"].get<int>(), 0);
  EXPECT_TRUE(j["divergences"].empty());
}

// A fault is detected, a third replica votes the faulty one out, and the
// run goes on to the clean output; the report says what happened.
TEST_P(ReplicateCliTest, AnInjectedFaultIsRecovered) {
  const std::string input = RunfilePath("guest/testdata/kvstore.in");
  const std::string clean = ReadText(RunfilePath("guest/testdata/kvstore.out"));
  struct Case {
    const char* spec;
    const char* injected;
    const char* trigger;
    const char* voted_out;
  };
  for (const Case& c :
       {Case{"mem:0x1a5000:3@60:follower", "0x1a5000 bit 3 flipped at ESN 60",
             "checkpoint_mismatch", "follower"},
        Case{"hang@60:leader", "hang injected at ESN 60", "hang", "leader"}}) {
    const std::string out =
        xv::testing::TempPath(GetParam() + "_replicate_fault.out");
    auto rep = Run({"replicate", GuestPath("kvstore"), "--checkpoint-every",
                    "20", "--hang-timeout", "0.3", "--inject", c.spec,
                    "--stdin", input, "--serial", "file:" + out, "--json"});
    EXPECT_EQ(rep.exit_status, 0) << c.spec << "\n" << rep.err;
    EXPECT_THAT(rep.err, HasSubstr(c.injected));
    EXPECT_THAT(rep.err, HasSubstr("is voted out"));
    EXPECT_EQ(ReadText(out), clean) << c.spec;
    auto j = nlohmann::json::parse(rep.out, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << rep.out;
    ASSERT_EQ(j["divergences"].size(), 1u) << rep.out;
    const auto& d = j["divergences"][0];
    EXPECT_EQ(d["trigger"], c.trigger);
    EXPECT_EQ(d["voted_out"], c.voted_out);
    EXPECT_EQ(d["outcome"], "recovered");
    EXPECT_TRUE(d["recovery_ms"].is_number());
    EXPECT_TRUE(j["fail_safe"].is_null());
  }

  auto bad = Run({"replicate", GuestPath("kvstore"), "--inject", "flip@3"});
  EXPECT_EQ(bad.exit_status, 2);
  EXPECT_THAT(bad.err, HasSubstr("fault 'flip@3'"));
  auto bad_timeout =
      Run({"replicate", GuestPath("kvstore"), "--hang-timeout", "0"});
  EXPECT_EQ(bad_timeout.exit_status, 2);
  EXPECT_THAT(bad_timeout.err, HasSubstr("hang-timeout"));
}

// The demo tells the whole story, and fails if the story goes wrong.
TEST_P(ReplicateCliTest, DemoShowsAFaultDetectedVotedOutAndRecovered) {
  auto demo = Run({"demo"});
  ASSERT_EQ(demo.exit_status, 0) << demo.out << demo.err;
  EXPECT_THAT(demo.out, HasSubstr("BYE commands=8 keys=1"));
  EXPECT_THAT(demo.out, HasSubstr("voted out: the leader; recovered in"));
  EXPECT_THAT(demo.out, HasSubstr("output identical to the plain run's; "
                                  "nothing unverified was released"));
  EXPECT_THAT(demo.out, HasSubstr("rebuilt from the checkpoint"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplicateCliTest,
                         ::testing::ValuesIn(xv::testing::TestBackends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace xv
