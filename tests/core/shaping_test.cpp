// Score shaping (core/shaping.h) and the image rectangles of the JSON
// (render/image_scores.h) against hand-computed values.

#include "atman/core/shaping.h"

#include <cmath>

#include <gtest/gtest.h>

#include "atman/core/names.h"
#include "atman/render/image_scores.h"
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

// An explanation of a `rows` x `cols` grid of single patches (first image
// position `first`) over an image of w x h pixels.
Explanation grid_explanation(int64_t rows, int64_t cols, int64_t first, int w, int h, ImageResize resize) {
  Explanation e;
  e.image_grid = std::make_pair(rows, cols);
  ImageConfig config;
  config.height = config.width = 8;
  config.grid_rows = rows;
  config.grid_cols = cols;
  config.resize = resize;
  e.image_config = config;
  e.image_size = std::make_pair<int64_t, int64_t>(w, h);
  ExplainedUnit bos;
  bos.index = 0;
  bos.members = {0};
  if (first > 0) e.units.push_back(bos);
  for (int64_t k = 0; k < rows * cols; ++k) {
    ExplainedUnit u;
    u.kind = PositionKind::kImage;
    u.index = first + k;
    u.members = {first + k};
    u.patch_row = k / cols;
    u.patch_col = k % cols;
    e.units.push_back(u);
  }
  return e;
}

void expect_rect(const ImageRectScore& r, double left, double top, double width, double height, double score) {
  EXPECT_DOUBLE_EQ(r.left, left);
  EXPECT_DOUBLE_EQ(r.top, top);
  EXPECT_DOUBLE_EQ(r.width, width);
  EXPECT_DOUBLE_EQ(r.height, height);
  EXPECT_DOUBLE_EQ(r.score, score);
}

std::vector<double> counting(size_t n) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return v;
}

TEST(ImageScoresTest, StretchIsThePatchGridInImageFractions) {
  // 100 x 80 pixels, 2 x 4 grid: columns of 25 px, rows of 40 px; a BOS first.
  const Explanation e = grid_explanation(2, 4, 1, 100, 80, ImageResize::kStretch);
  const auto rects = image_rect_scores(e, counting(e.units.size()));
  ASSERT_EQ(rects.size(), 8u);
  expect_rect(rects[0], 0.0, 0.0, 0.25, 0.5, 1.0);   // unit 1: patch (0, 0)
  expect_rect(rects[6], 0.5, 0.5, 0.25, 0.5, 7.0);   // patch (1, 2)
  // 3 columns over 100 px: edges 0, 33, 66, 100 (floored pixel edges, as the overlay's).
  const auto thirds = image_rect_scores(grid_explanation(1, 3, 0, 100, 10, ImageResize::kStretch), {0, 1, 2});
  expect_rect(thirds[1], 0.33, 0.0, 0.33, 1.0, 1.0);
  expect_rect(thirds[2], 0.66, 0.0, 0.34, 1.0, 2.0);
}

TEST(ImageScoresTest, CropAndPadMapThroughImageResize) {
  // 200 x 100 image. center_crop shows x in [50, 150): a 2 x 2 grid's column 0 is [50, 100).
  auto rects = image_rect_scores(grid_explanation(2, 2, 0, 200, 100, ImageResize::kCenterCrop), counting(4));
  ASSERT_EQ(rects.size(), 4u);
  expect_rect(rects[0], 0.25, 0.0, 0.25, 0.5, 0.0);
  expect_rect(rects[3], 0.5, 0.5, 0.25, 0.5, 3.0);
  // pad: the 200 x 200 square reaches 50 px above and below; a 4 x 4 grid's
  // row edges -50, 0, 50, 100, 150: rows 0 and 3 lie wholly in the padding.
  rects = image_rect_scores(grid_explanation(4, 4, 0, 200, 100, ImageResize::kPad), counting(16));
  ASSERT_EQ(rects.size(), 8u);
  expect_rect(rects[0], 0.0, 0.0, 0.25, 0.5, 4.0);  // patch (1, 0)
  expect_rect(rects[7], 0.75, 0.5, 0.25, 0.5, 11.0);  // patch (2, 3)
}

TEST(ImageScoresTest, TileIsTheBoundingBoxAndErrors) {
  Explanation e = grid_explanation(2, 2, 0, 100, 100, ImageResize::kStretch);
  e.units[1].members = {1, 3};  // a tile of the right column
  e.units.erase(e.units.begin() + 3);
  auto rects = image_rect_scores(e, {0.0, 1.0, 2.0});
  ASSERT_EQ(rects.size(), 3u);
  expect_rect(rects[1], 0.5, 0.0, 0.5, 1.0, 1.0);
  expect_error([&] { image_rect_scores(e, {1.0}); }, {"1 scores for 3 units"});
  e.image_size.reset();
  expect_error([&] { image_rect_scores(e, {0.0, 1.0, 2.0}); }, {"no image size"});
  EXPECT_TRUE(image_rect_scores(hand_explanation(), {1, 2, 3}).empty());  // no image
}

}  // namespace
}  // namespace atman
