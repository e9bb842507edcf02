// The image rectangles of the JSON (render/image_scores.h) against
// hand-computed values.

#include "atman/render/image_scores.h"

#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

// `n` text units and no image.
Explanation text_explanation(int64_t n) {
  Explanation e;
  for (int64_t i = 0; i < n; ++i) {
    ExplainedUnit u;
    u.index = i;
    u.members = {i};
    e.units.push_back(u);
  }
  return e;
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
  EXPECT_TRUE(image_rect_scores(text_explanation(3), {1, 2, 3}).empty());  // no image
}

}  // namespace
}  // namespace atman
