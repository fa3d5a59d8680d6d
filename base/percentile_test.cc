#include "base/percentile.h"

#include <vector>

#include "gtest/gtest.h"

namespace xv {
namespace {

TEST(PercentileTest, EmptySampleHasNone) {
  EXPECT_FALSE(NearestRank({}, 50).has_value());
  Percentiles p = MedianAndP99({});
  EXPECT_EQ(p.samples, 0u);
  EXPECT_FALSE(p.median.has_value());
  EXPECT_FALSE(p.p99.has_value());
}

TEST(PercentileTest, NearestRankIsAlwaysASample) {
  // Unsorted on purpose.
  const std::vector<double> v = {40, 10, 30, 20};
  EXPECT_EQ(*NearestRank(v, 50), 20);  // lower middle, not 25
  EXPECT_EQ(*NearestRank(v, 25), 10);
  EXPECT_EQ(*NearestRank(v, 26), 20);
  EXPECT_EQ(*NearestRank(v, 75), 30);
  EXPECT_EQ(*NearestRank(v, 99), 40);
  EXPECT_EQ(*NearestRank(v, 100), 40);
  EXPECT_EQ(*NearestRank(v, 0.001), 10);
}

TEST(PercentileTest, P99OfAHundredAndOfTwoHundred) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(*NearestRank(v, 99), 99);
  EXPECT_EQ(*NearestRank(v, 50), 50);
  for (int i = 101; i <= 200; ++i) v.push_back(i);
  EXPECT_EQ(*NearestRank(v, 99), 198);
  Percentiles p = MedianAndP99(v);
  EXPECT_EQ(p.samples, 200u);
  EXPECT_EQ(*p.median, 100);
  EXPECT_EQ(*p.p99, 198);
}

TEST(PercentileTest, OneSampleIsEveryPercentile) {
  EXPECT_EQ(*NearestRank({7.5}, 1), 7.5);
  EXPECT_EQ(*NearestRank({7.5}, 50), 7.5);
  EXPECT_EQ(*NearestRank({7.5}, 99), 7.5);
}

}  // namespace
}  // namespace xv
