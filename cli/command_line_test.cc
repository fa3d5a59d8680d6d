#include "cli/command_line.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace xv::cli {
namespace {

const CommandSpec& Spec() {
  static const CommandSpec spec = {
      .name = "run",
      .usage = "run KERNEL [options]",
      .summary = "s",
      .description = "d",
      .options = {{"mem", "MiB", "memory", 'm'}, {"json", "", "json output"}},
      .min_positional = 1,
      .max_positional = 1,
  };
  return spec;
}

absl::StatusOr<ParsedArgs> Parse(std::vector<std::string> args) {
  return ParseArgs(Spec(), args);
}

TEST(CommandLineTest, ParsesBothValueForms) {
  auto a = Parse({"k.elf", "--mem", "64"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Get("mem"), "64");
  EXPECT_EQ(a->positional(), std::vector<std::string>{"k.elf"});
  auto b = Parse({"--mem=32", "--json", "k.elf"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->Get("mem"), "32");
  EXPECT_TRUE(b->Has("json"));
}

TEST(CommandLineTest, ShortAliasTakesAValue) {
  auto a = Parse({"-m", "16", "k.elf"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->Get("mem"), "16");
  EXPECT_FALSE(Parse({"-x", "k.elf"}).ok());
  EXPECT_FALSE(Parse({"k.elf", "-m"}).ok());
  EXPECT_NE(HelpText(Spec()).find("-m, --mem MiB"), std::string::npos);
}

TEST(CommandLineTest, RejectsUnknownMissingAndExtra) {
  auto unknown = Parse({"k.elf", "--memory", "64"});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "unknown option '--memory' (see 'xvirt run --help')");
  auto missing_value = Parse({"k.elf", "--mem"});
  ASSERT_FALSE(missing_value.ok());
  EXPECT_NE(missing_value.status().message().find("needs a value"),
            absl::string_view::npos);
  EXPECT_FALSE(Parse({"--json"}).ok());               // no KERNEL
  EXPECT_FALSE(Parse({"a.elf", "b.elf"}).ok());       // one too many
  EXPECT_FALSE(Parse({"k.elf", "--json=yes"}).ok());  // flag with value
}

TEST(CommandLineTest, DoubleDashEndsOptions) {
  auto a = Parse({"--", "--weird-name.elf"});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->positional()[0], "--weird-name.elf");
}

TEST(CommandLineTest, HelpSkipsPositionalChecks) {
  auto a = Parse({"--help"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->Has("help"));
}

TEST(CommandLineTest, NumbersAreRangeChecked) {
  auto a = Parse({"k", "--mem", "abc"});
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->GetNumber("mem", 2, 3072).ok());
  auto b = Parse({"k", "--mem", "9999"});
  ASSERT_TRUE(b.ok());
  auto n = b->GetNumber("mem", 2, 3072);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("--mem"), absl::string_view::npos);
  auto c = Parse({"k", "--mem", "64"});
  EXPECT_EQ(**c->GetNumber("mem", 2, 3072), 64);
}

TEST(CommandLineTest, HelpListsEveryOption) {
  std::string help = HelpText(Spec());
  EXPECT_NE(help.find("usage: xvirt run KERNEL [options]"), std::string::npos);
  EXPECT_NE(help.find("--mem MiB"), std::string::npos);
  EXPECT_NE(help.find("--json"), std::string::npos);
}

}  // namespace
}  // namespace xv::cli
