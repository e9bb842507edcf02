// The evaluation metrics (docs/evaluation.md) on hand-made maps, and the bootstrap interval.
#include "eval/metrics.h"

#include <cmath>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

// relevance  0.5  0.0  -1.0  2.0  1.5     clipped x = 0.5 0 0 2 1.5, sum 4
// truth      1    0    0     1    0
// precision = (0.5 + 2) / 4 = 0.625
// recall    = (0.5/2 + 2/2) / 2 = 0.625
// AP: ranks 2.0 (hit: R 1/2, P 1), 1.5 (miss), 0.5 (hit: R 1, P 2/3), ties at 0 (misses)
//     = 1/2 * 1 + 1/2 * 2/3 = 5/6
// pointing: top is 2.0 at index 3, in the truth -> 1
TEST(MetricsTest, HandMadeMap) {
  const std::vector<double> r = {0.5, 0.0, -1.0, 2.0, 1.5};
  const std::vector<int> y = {1, 0, 0, 1, 0};
  const ItemMetrics m = compute_metrics(r, y);
  EXPECT_DOUBLE_EQ(m.precision, 0.625);
  EXPECT_DOUBLE_EQ(m.recall, 0.625);
  EXPECT_NEAR(m.average_precision, 5.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.pointing, 1.0);
}

// A perfect map: all relevance on the truth.
TEST(MetricsTest, PerfectMap) {
  const ItemMetrics m = compute_metrics({0.0, 3.0, 1.0, -2.0}, {0, 1, 1, 0});
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, (1.0 + 1.0 / 3.0) / 2.0);
  EXPECT_DOUBLE_EQ(m.average_precision, 1.0);
  EXPECT_DOUBLE_EQ(m.pointing, 1.0);
}

// Ties enter together: {0, 1} at 1.0 give R = 1 at P = 1/2 -> AP 0.5 (as
// scikit-learn); the top position on a tie is the first one (index 0, a miss).
TEST(MetricsTest, TiesAndPointing) {
  const ItemMetrics m = compute_metrics({1.0, 1.0, 0.0, 0.0}, {0, 1, 0, 0});
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.average_precision, 0.5);
  EXPECT_DOUBLE_EQ(m.pointing, 0.0);
}

// The worst map: all positive relevance off the truth; the truth ranks last.
// 4 positions, truth {3}: x = 3 2 1 0 -> AP = 1/4 (the hit enters at rank 4).
TEST(MetricsTest, WorstMap) {
  const ItemMetrics m = compute_metrics({3.0, 2.0, 1.0, -5.0}, {0, 0, 0, 1});
  EXPECT_DOUBLE_EQ(m.precision, 0.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.0);
  EXPECT_DOUBLE_EQ(m.average_precision, 0.25);
  EXPECT_DOUBLE_EQ(m.pointing, 0.0);
}

// No positive relevance: precision and recall are 0 (no division by zero);
// every position ties at 0, so AP is the truth's share; pointing uses the raw
// maximum (-1 at index 0, in the truth).
TEST(MetricsTest, NoPositiveRelevance) {
  const ItemMetrics m = compute_metrics({-1.0, -2.0, -3.0}, {1, 0, 0});
  EXPECT_DOUBLE_EQ(m.precision, 0.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.0);
  EXPECT_NEAR(m.average_precision, 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.pointing, 1.0);
}

TEST(MetricsTest, NonFiniteRelevanceCountsAsZero) {
  const double inf = std::numeric_limits<double>::infinity();
  const ItemMetrics m = compute_metrics({std::nan(""), inf, 1.0}, {0, 0, 1});
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_DOUBLE_EQ(m.pointing, 1.0);
}

TEST(MetricsTest, EmptyTruthIsNaN) {
  const ItemMetrics m = compute_metrics({1.0, 2.0}, {0, 0});
  EXPECT_TRUE(std::isnan(m.precision));
  EXPECT_TRUE(std::isnan(m.recall));
  EXPECT_TRUE(std::isnan(m.average_precision));
  EXPECT_TRUE(std::isnan(m.pointing));
}

TEST(MetricsTest, SizeMismatchThrows) {
  expect_error([] { compute_metrics({1.0, 2.0}, {1}); }, {"compute_metrics", "same non-zero size", "2 and 1"});
  expect_error([] { paper_precision({}, {}); }, {"paper_precision", "0 and 0"});
}

TEST(BootstrapTest, ConstantValues) {
  const MeanInterval m = bootstrap_mean({0.25, 0.25, 0.25, 0.25});
  EXPECT_DOUBLE_EQ(m.mean, 0.25);
  EXPECT_DOUBLE_EQ(m.low, 0.25);
  EXPECT_DOUBLE_EQ(m.high, 0.25);
  EXPECT_EQ(m.n, 4);
}

TEST(BootstrapTest, DeterministicAndSensible) {
  std::vector<double> values;
  for (int i = 0; i < 200; ++i) values.push_back((i * 37 % 101) / 100.0);
  values.push_back(std::nan(""));  // left out
  const MeanInterval a = bootstrap_mean(values, 1000, 7);
  const MeanInterval b = bootstrap_mean(values, 1000, 7);
  const MeanInterval c = bootstrap_mean(values, 1000, 8);
  EXPECT_EQ(a.n, 200);
  EXPECT_EQ(a.low, b.low);
  EXPECT_EQ(a.high, b.high);
  EXPECT_NE(a.low, c.low);
  EXPECT_LT(a.low, a.mean);
  EXPECT_GT(a.high, a.mean);
  // Standard error of the mean ~ sd / sqrt(n) ~ 0.29 / 14 ~ 0.02: the 95% interval spans ~ +-0.04.
  EXPECT_NEAR(a.high - a.low, 4 * 0.2887 / std::sqrt(200.0), 0.015);
}

TEST(BootstrapTest, EmptyAndSingle) {
  const MeanInterval e = bootstrap_mean({std::nan("")});
  EXPECT_EQ(e.n, 0);
  EXPECT_TRUE(std::isnan(e.mean));
  const MeanInterval s = bootstrap_mean({0.7});
  EXPECT_EQ(s.n, 1);
  EXPECT_DOUBLE_EQ(s.low, 0.7);
  EXPECT_DOUBLE_EQ(s.high, 0.7);
  expect_error([] { bootstrap_mean({1.0}, 0); }, {"resamples must be >= 1, got 0"});
}

}  // namespace
}  // namespace atman
