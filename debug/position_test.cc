#include "debug/position.h"

#include "gtest/gtest.h"

namespace xv {
namespace {

TEST(PositionTest, ParsesAnExitAndStepsAfterIt) {
  auto p = ParsePosition("120+35");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->esn, 120u);
  EXPECT_EQ(p->steps, 35u);
  auto q = ParsePosition("7");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(*q, (Position{.esn = 7, .steps = 0}));
}

TEST(PositionTest, FormatsBack) {
  EXPECT_EQ(FormatPosition({.esn = 120, .steps = 35}), "120+35");
  EXPECT_EQ(FormatPosition({.esn = 7}), "7");
}

TEST(PositionTest, OrdersByExitThenSteps) {
  EXPECT_LT((Position{.esn = 3, .steps = 900}), (Position{.esn = 4}));
  EXPECT_LT((Position{.esn = 4}), (Position{.esn = 4, .steps = 1}));
}

TEST(PositionTest, RejectsWhatIsNotAPosition) {
  for (const char* bad : {"", "+3", "3+", "-1", "3+-1", "x", "3+4+5", " 3",
                          "99999999999999999999999"}) {
    auto p = ParsePosition(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_NE(p.status().message().find("position"), std::string::npos)
          << p.status();
    }
  }
}

}  // namespace
}  // namespace xv
