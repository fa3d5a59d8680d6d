#include "guest/testing/guest_cases.h"

#include "gtest/gtest.h"

namespace xv::guest_testing {
namespace {

TEST(ParseGuestCasesTest, ParsesEveryColumn) {
  std::string error;
  auto cases = ParseGuestCases(
      "# comment\n"
      "\n"
      "a | hello | x=1 y=2 | in.txt | 8 | 3 | a.out\n"
      "b | testcases/spin | - | - | 0 | running | b.re\n"
      "c | testcases/triple_fault | - | - | 0 | shutdown | c.out\n",
      &error);
  ASSERT_TRUE(cases) << error;
  ASSERT_EQ(cases->size(), 3u);
  const GuestCase& a = (*cases)[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.guest, "hello");
  EXPECT_EQ(a.cmdline, "x=1 y=2");
  EXPECT_EQ(a.input_file, "guest/testdata/in.txt");
  EXPECT_EQ(a.disk_sectors, 8u);
  EXPECT_EQ(a.end, GuestCase::End::kDebugExit);
  EXPECT_EQ(a.exit_value, 3u);
  EXPECT_EQ(a.expected_file, "guest/testdata/a.out");
  EXPECT_FALSE(a.expected_is_regex);
  EXPECT_EQ((*cases)[1].cmdline, "");
  EXPECT_EQ((*cases)[1].input_file, "");
  EXPECT_EQ((*cases)[1].end, GuestCase::End::kRunning);
  EXPECT_TRUE((*cases)[1].expected_is_regex);
  EXPECT_EQ((*cases)[2].end, GuestCase::End::kShutdown);
}

TEST(ParseGuestCasesTest, RejectsMalformedLines) {
  std::string error;
  EXPECT_FALSE(ParseGuestCases("a | hello | - | - | 0 | 0\n", &error));
  EXPECT_NE(error.find("line 1"), std::string::npos);
  EXPECT_FALSE(ParseGuestCases("a | hello | - | - | x | 0 | a.out\n", &error));
  EXPECT_FALSE(
      ParseGuestCases("a | hello | - | - | 0 | oops | a.out\n", &error));
  EXPECT_FALSE(ParseGuestCases("a | hello | - | - | 0 | 0 | a.txt\n", &error));
}

TEST(OutputMatchesTest, ExactOrRegex) {
  GuestCase exact;
  EXPECT_TRUE(OutputMatches(exact, "x\n", "x\n"));
  EXPECT_FALSE(OutputMatches(exact, "x\n", "x\ny\n"));
  GuestCase regex;
  regex.expected_is_regex = true;
  EXPECT_TRUE(OutputMatches(regex, "v [0-9]+\n", "v 42\n"));
  EXPECT_FALSE(OutputMatches(regex, "v [0-9]+\n", "v 42\nmore\n"));
}

}  // namespace
}  // namespace xv::guest_testing
