// `xvirt campaign` as a user runs it: a small campaign's JSON report adds
// up and finds no silent corruption, the guest's input reaches every run,
// the scratch files are gone afterwards, and bad options are refused. The
// campaigns run on every backend (tests/test_backends.h), each through its
// own `--backend`; a backend not usable here is skipped with the reason.
#include <filesystem>
#include <map>
#include <string>

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
using ::testing::StartsWith;
using xv::testing::GuestPath;
using xv::testing::Lines;
using xv::testing::ReadText;
using xv::testing::RunfilePath;
using xv::testing::RunProcess;
using xv::testing::TempPath;

std::string Xvirt() { return RunfilePath("cli/xvirt"); }

constexpr const char* kClasses[] = {"masked",       "recovered",
                                    "fail_safe",    "silent_corruptions",
                                    "not_injected", "unexplained"};

// The totals add up to `runs`, and match the per-run list.
void ExpectConsistent(const nlohmann::json& j, int runs, int first_seed) {
  ASSERT_EQ(j["runs"].get<int>(), runs) << j.dump();
  int sum = 0;
  for (const char* c : kClasses) sum += j[c].get<int>();
  EXPECT_EQ(sum, runs) << j.dump();
  ASSERT_EQ(j["per_run"].size(), static_cast<size_t>(runs));
  std::map<std::string, int> by_class;
  for (size_t i = 0; i < j["per_run"].size(); ++i) {
    const nlohmann::json& r = j["per_run"][i];
    EXPECT_EQ(r["seed"].get<int>(), first_seed + static_cast<int>(i));
    const std::string spec = r["spec"];
    EXPECT_TRUE(spec.starts_with("reg:") || spec.starts_with("mem:")) << spec;
    ++by_class[r["class"].get<std::string>()];
    EXPECT_EQ(r["esn"].is_null(), r["divergences"].get<int>() == 0);
  }
  for (const char* c : kClasses) {
    std::string name = c == std::string("silent_corruptions")
                           ? "silent_corruption"
                           : std::string(c);
    EXPECT_EQ(by_class[name], j[c].get<int>()) << c;
  }
  for (const char* key : {"detection_latency_ms", "recovery_ms"}) {
    EXPECT_TRUE(j[key].contains("median")) << key;
    EXPECT_TRUE(j[key].contains("p99")) << key;
  }
}

// The parameter is the backend the campaigns run on.
class CampaignCliTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { XV_SKIP_UNLESS_BACKEND_USABLE(GetParam()); }
};

TEST_P(CampaignCliTest, ASmallCampaignAddsUpAndFindsNoSilentCorruption) {
  const std::string tmp = TempPath("campaign_compute_" + GetParam());
  std::filesystem::create_directories(tmp);
  auto c =
      RunProcess({Xvirt(), "campaign", GuestPath("compute"), "--cmdline",
                  "mib=1", "--faults", "5", "--seed", "7", "--checkpoint-every",
                  "2000", "--json", "--backend", GetParam()},
                 {.env = {{"TMPDIR", tmp}}, .timeout_seconds = 600});
  ASSERT_FALSE(c.timed_out);
  EXPECT_EQ(c.exit_status, 0) << c.err;
  auto j = nlohmann::json::parse(c.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << c.out;
  ExpectConsistent(j, 5, 7);
  EXPECT_EQ(j["silent_corruptions"].get<int>(), 0) << j.dump();
  EXPECT_EQ(j["golden"]["exit_code"].get<int>(), 0);
  EXPECT_GT(j["golden"]["esn"].get<int>(), 0);
  // The guest's output was captured, not printed: stderr has the progress
  // lines and the golden run's summary only.
  for (const std::string& line : Lines(c.err)) {
    EXPECT_THAT(line, StartsWith("campaign: ")) << c.err;
  }
  // The scratch directory and its files are gone.
  EXPECT_TRUE(std::filesystem::is_empty(tmp));
}

TEST_P(CampaignCliTest, EveryRunGetsTheWholeInput) {
  const std::string input = RunfilePath("guest/testdata/kvstore.in");
  const size_t expected =
      ReadText(RunfilePath("guest/testdata/kvstore.out")).size();
  // From standard input, read once for the golden run and both faulty ones.
  auto c = RunProcess(
      {Xvirt(), "campaign", GuestPath("kvstore"), "--faults", "2", "--seed",
       "100", "--checkpoint-every", "200", "--json", "--backend", GetParam()},
      {.stdin_path = input, .env = {}, .timeout_seconds = 600});
  ASSERT_FALSE(c.timed_out);
  EXPECT_EQ(c.exit_status, 0) << c.err;
  auto j = nlohmann::json::parse(c.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << c.out;
  EXPECT_EQ(j["golden"]["output_bytes"].get<size_t>(), expected);
  ExpectConsistent(j, 2, 100);
  // A masked or recovered run released the golden output, which needed
  // the whole input; a run with no input would have ended differently.
  EXPECT_EQ(j["silent_corruptions"].get<int>(), 0) << j.dump();
  EXPECT_EQ(j["unexplained"].get<int>(), 0) << j.dump();
}

INSTANTIATE_TEST_SUITE_P(Backends, CampaignCliTest,
                         ::testing::ValuesIn(xv::testing::TestBackends()),
                         [](const auto& info) { return info.param; });

// Usage errors: no guest runs, so on no particular backend.
TEST(CampaignOptionsTest, RefusesBadOptionsInOneLine) {
  const std::string compute = GuestPath("compute");
  const std::pair<std::vector<std::string>, const char*> cases[] = {
      {{"--faults", "0", "--seed", "1"}, "--faults"},
      {{"--faults", "-3", "--seed", "1"}, "--faults"},
      {{"--faults", "2.5", "--seed", "1"}, "whole number"},
      {{"--seed", "1"}, "--faults N is needed"},
      {{"--faults", "3"}, "--seed S is needed"},
      {{"--faults", "3", "--seed", "-1"}, "--seed"},
      {{"--faults", "3", "--seed", "x"}, "--seed"},
      {{"--faults", "3", "--seed", "1", "--serial", "stdio"}, "serial"},
      {{"--faults", "3", "--seed", "1", "--stdin", "unix:/nonexistent"},
       "cannot be read again"},
  };
  for (const auto& [extra, message] : cases) {
    std::vector<std::string> argv = {Xvirt(), "campaign", compute};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = RunProcess(argv);
    EXPECT_EQ(r.exit_status, 2) << extra[0] << " " << r.err;
    EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
    EXPECT_THAT(r.err, HasSubstr(message));
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  auto help = RunProcess({Xvirt(), "campaign", "--help"});
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_THAT(help.out, HasSubstr("silent corruption"));
}

}  // namespace
}  // namespace xv
