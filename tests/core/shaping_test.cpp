// Score shaping (core/shaping.h) against hand-computed values.

#include "atman/core/shaping.h"

#include <cmath>

#include <gtest/gtest.h>

#include "atman/core/names.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

void expect_values(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << "value " << i;
}

TEST(ShapingTest, PostprocessThenNormalizeByHand) {
  const std::vector<double> r = {-2.0, 0.0, 1.0, 0.5};
  expect_values(shape_map(r, Postprocess::kNone, false), r);
  expect_values(shape_map(r, Postprocess::kAbsolute, false), {2.0, 0.0, 1.0, 0.5});
  expect_values(shape_map(r, Postprocess::kSquare, false), {4.0, 0.0, 1.0, 0.25});
  // normalize: (v - min) / (max - min) after the postprocessing.
  expect_values(shape_map(r, Postprocess::kNone, true), {0.0, 2.0 / 3.0, 1.0, 2.5 / 3.0});
  expect_values(shape_map(r, Postprocess::kAbsolute, true), {1.0, 0.0, 0.5, 0.25});
  expect_values(shape_map(r, Postprocess::kSquare, true), {1.0, 0.0, 0.25, 0.0625});
}

TEST(ShapingTest, ConstantMapNormalizesToZerosAndNonFiniteStays) {
  expect_values(shape_map({0.0, 0.0, 0.0}, Postprocess::kNone, true), {0.0, 0.0, 0.0});
  expect_values(shape_map({3.5, 3.5}, Postprocess::kSquare, true), {0.0, 0.0});
  expect_values(shape_map({-1.0, 1.0}, Postprocess::kAbsolute, true), {0.0, 0.0});  // |v| constant
  expect_values(shape_map({7.0}, Postprocess::kNone, true), {0.0});
  EXPECT_TRUE(shape_map({}, Postprocess::kNone, true).empty());
  const std::vector<double> v = shape_map({1.0, NAN, 3.0, INFINITY}, Postprocess::kNone, true);
  EXPECT_DOUBLE_EQ(v[0], 0.0);
  EXPECT_TRUE(std::isnan(v[1]));
  EXPECT_DOUBLE_EQ(v[2], 1.0);  // the infinite value does not set the scale
  EXPECT_TRUE(std::isinf(v[3]));
}

// Three units, two target tokens: R[i, t] by hand, R[i] their sum.
Explanation hand_explanation() {
  Explanation e;
  e.targets = {{5, "\xe2\x96\x81" "a", 0.1}, {6, "b", 0.2}};
  const double per_target[3][2] = {{1.0, -3.0}, {2.0, 2.0}, {0.0, 1.0}};
  for (int i = 0; i < 3; ++i) {
    ExplainedUnit u;
    u.index = i;
    u.members = {i};
    u.per_target = {per_target[i][0], per_target[i][1]};
    u.relevance = per_target[i][0] + per_target[i][1];  // -2, 4, 1
    e.units.push_back(u);
  }
  return e;
}

TEST(ShapingTest, EveryMapShapedOnItsOwnAndRawKept) {
  Explanation e = hand_explanation();
  shape_explanation(e);  // defaults: nothing to do
  EXPECT_FALSE(e.shaped);
  EXPECT_DOUBLE_EQ(e.units[0].relevance, -2.0);

  e.params.postprocess = Postprocess::kSquare;
  e.params.normalize = true;
  shape_explanation(e);
  ASSERT_TRUE(e.shaped);
  // complete map: squares 4, 16, 1 -> (v - 1) / 15
  EXPECT_NEAR(e.units[0].relevance, 3.0 / 15.0, 1e-15);
  EXPECT_NEAR(e.units[1].relevance, 1.0, 1e-15);
  EXPECT_NEAR(e.units[2].relevance, 0.0, 1e-15);
  // token 0: squares 1, 4, 0 -> v / 4; token 1: squares 9, 4, 1 -> (v - 1) / 8
  EXPECT_NEAR(e.units[0].per_target[0], 0.25, 1e-15);
  EXPECT_NEAR(e.units[1].per_target[0], 1.0, 1e-15);
  EXPECT_NEAR(e.units[2].per_target[0], 0.0, 1e-15);
  EXPECT_NEAR(e.units[0].per_target[1], 1.0, 1e-15);
  EXPECT_NEAR(e.units[1].per_target[1], 3.0 / 8.0, 1e-15);
  EXPECT_NEAR(e.units[2].per_target[1], 0.0, 1e-15);
  EXPECT_DOUBLE_EQ(e.units[0].raw_relevance, -2.0);
  EXPECT_EQ(e.units[0].raw_per_target, (std::vector<double>{1.0, -3.0}));
  expect_error([&] { shape_explanation(e); }, {"shaped already"});
}

TEST(ShapingTest, ContrastColumnsShapedToo) {
  Explanation e = hand_explanation();
  e.contrast = ContrastAnswer{" c", {{7, "c", 0.3}}};
  const double rc[3] = {-1.0, 0.0, 3.0};
  for (int i = 0; i < 3; ++i) e.units[i].per_contrast = {rc[i]};
  e.params.postprocess = Postprocess::kAbsolute;
  shape_explanation(e);
  EXPECT_DOUBLE_EQ(e.units[0].per_contrast[0], 1.0);
  EXPECT_DOUBLE_EQ(e.units[0].raw_per_contrast[0], -1.0);
  EXPECT_DOUBLE_EQ(e.units[0].relevance, 2.0);
}

TEST(ShapingTest, PresentedMapsFollowTargetGranularity) {
  Explanation e = hand_explanation();
  std::vector<PresentedMap> maps = presented_maps(e);  // complete
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[0].target_tokens, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(maps[0].scores, (std::vector<double>{-2.0, 4.0, 1.0}));
  e.params.target_granularity = TargetGranularity::kToken;
  maps = presented_maps(e);
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[1].target_tokens, (std::vector<int64_t>{1}));
  EXPECT_EQ(maps[1].scores, (std::vector<double>{-3.0, 2.0, 1.0}));
}

TEST(ShapingTest, NamesAndBadValues) {
  EXPECT_EQ(parse_postprocess("square"), Postprocess::kSquare);
  EXPECT_EQ(postprocess_name(Postprocess::kAbsolute), "absolute");
  EXPECT_EQ(parse_target_granularity("token"), TargetGranularity::kToken);
  EXPECT_EQ(target_granularity_name(TargetGranularity::kComplete), "complete");
  expect_error([] { parse_postprocess("cube"); }, {"postprocess must be none, absolute or square, got \"cube\""});
  expect_error([] { parse_target_granularity("word"); },
               {"target granularity must be complete or token, got \"word\""});
}

}  // namespace
}  // namespace atman
