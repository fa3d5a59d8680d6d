#include "replica/fault_spec.h"

#include <set>

#include "gtest/gtest.h"

namespace xv {
namespace {

const FaultSpace kSpace{.max_esn = 1000, .memory_bytes = 1 << 20};

TEST(FaultSpecTest, ParsesEveryFormAndPrintsItBack) {
  for (const char* text :
       {"reg:rax:5@100:leader", "reg:rflags:0@7:follower",
        "mem:0x1f00:3@42:leader", "hang@9:follower", "crash@1:leader"}) {
    auto f = ParseFaultSpec(text, kSpace);
    ASSERT_TRUE(f.ok()) << text << ": " << f.status();
    EXPECT_EQ(f->ToString(), text);
    auto again = ParseFaultSpec(f->ToString(), kSpace);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *f);
  }
  auto f = ParseFaultSpec("mem:4096:7@3", kSpace);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, FaultKind::kMemoryBit);
  EXPECT_EQ(f->gpa, 4096u);
  EXPECT_EQ(f->replica, ReplicaRole::kLeader);  // the default
}

TEST(FaultSpecTest, RefusesBadSpecsNamingTheProblem) {
  const std::pair<const char*, const char*> bad[] = {
      {"reg:rax:5", "no @ESN"},
      {"reg:rax:5@0", "positive"},
      {"reg:xmm0:5@1", "unknown register"},
      {"reg:rax:64@1", "0..63"},
      {"mem:0x100000:1@1", "outside guest memory"},
      {"mem:0x10:8@1", "0..7"},
      {"hang:1@1", "no arguments"},
      {"crash@1:both", "'leader' or 'follower'"},
      {"flip:rax:1@1", "unknown fault kind"},
      {"random:x", "SEED"},
  };
  for (const auto& [text, why] : bad) {
    auto f = ParseFaultSpec(text, kSpace);
    ASSERT_FALSE(f.ok()) << text;
    EXPECT_NE(f.status().message().find(why), absl::string_view::npos)
        << text << ": " << f.status();
    EXPECT_NE(f.status().message().find(text), absl::string_view::npos);
  }
}

TEST(FaultSpecTest, RandomFaultsAreDeterministicSpreadAndInRange) {
  auto a = ParseFaultSpec("random:7", kSpace);
  auto b = ParseFaultSpec("random:7", kSpace);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  std::set<FaultKind> kinds;
  std::set<ReplicaRole> roles;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto f = ParseFaultSpec("random:" + std::to_string(seed), kSpace);
    ASSERT_TRUE(f.ok());
    kinds.insert(f->kind);
    roles.insert(f->replica);
    EXPECT_GE(f->esn, 1u);
    EXPECT_LE(f->esn, kSpace.max_esn);
    if (f->kind == FaultKind::kMemoryBit) {
      EXPECT_LT(f->gpa, kSpace.memory_bytes);
      EXPECT_LE(f->bit, 7u);
    } else {
      EXPECT_LE(f->bit, 63u);
    }
    // What it draws parses back to itself.
    auto again = ParseFaultSpec(f->ToString(), kSpace);
    ASSERT_TRUE(again.ok()) << f->ToString();
    EXPECT_EQ(*again, *f);
  }
  EXPECT_EQ(kinds.size(), 2u);  // register and memory bits
  EXPECT_EQ(roles.size(), 2u);
}

}  // namespace
}  // namespace xv
