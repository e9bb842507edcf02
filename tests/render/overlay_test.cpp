// Tests of the overlay PNG (render/overlay.h, heat_map.h, colour_map.h): strips
// outside the image, hand-computed blends, percentile clipping, borders,
// degenerate relevance, input checks, the atomic write.

#include "atman/render/overlay.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/image.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::gray_image;
using testing::grid_explanation;
using testing::TempDir;

// OpenCV's own viridis (BGR table) at `level`, as RGB: independent of colour_map.cpp.
cv::Vec3d opencv_viridis(int level) {
  cv::Mat bgr;
  cv::applyColorMap(cv::Mat(1, 1, CV_8UC1, cv::Scalar(level)), bgr, cv::COLORMAP_VIRIDIS);
  const cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return {double(c[2]), double(c[1]), double(c[0])};
}

// A colourful image: every pixel different enough to notice a change.
cv::Mat gradient_image(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 7 % 256), uchar(y * 5 % 256), uchar((x + y) * 3 % 256));
    }
  }
  return image;
}

// Image units of `e` become 2 x 2 tiles of a `rows` x `cols` grid (rows, cols even).
Explanation with_tiles(const Explanation& e, int rows, int cols, const std::function<double(int, int)>& value) {
  Explanation tiled = e;
  tiled.units.clear();
  for (int r = 0; r < rows; r += 2) {
    for (int c = 0; c < cols; c += 2) {
      ExplainedUnit u;
      u.kind = PositionKind::kImage;
      u.index = r * cols + c;
      u.members = {u.index, u.index + 1, u.index + cols, u.index + cols + 1};
      u.patch_row = r, u.patch_col = c;
      u.tile_row0 = r, u.tile_row1 = r + 1, u.tile_col0 = c, u.tile_col1 = c + 1;
      u.relevance = value(r / 2, c / 2);
      u.per_target = {u.relevance};
      tiled.units.push_back(u);
    }
  }
  return tiled;
}

OverlayOptions heat_only() {
  OverlayOptions options;
  options.colour_bar = false;
  options.caption = false;
  return options;
}

TEST(RenderOverlayTest, StripsLieOutsideTheImageWhichKeepsItsPixelsAndResolution) {
  // Only patch (0, 0) is relevant: far from it (cells 3..5 of 6) the heat is 0
  // and the image's pixels must come through unchanged.
  const auto e = grid_explanation(6, 6, [](int r, int c) { return r == 0 && c == 0 ? 1.0 : 0.0; });
  const cv::Mat image = gradient_image(120, 90);
  const cv::Mat out = render_overlay(e, image, overlay_caption("What color is the circle?", " red"));
  ASSERT_EQ(out.type(), CV_8UC3);
  EXPECT_GT(out.cols, image.cols);  // the colour bar strip at the right
  EXPECT_GT(out.rows, image.rows);  // the caption strip below
  for (int y = 45; y < 90; ++y) {
    for (int x = 60; x < 120; ++x) ASSERT_EQ(out.at<cv::Vec3b>(y, x), image.at<cv::Vec3b>(y, x)) << x << "," << y;
  }
  EXPECT_NE(out.at<cv::Vec3b>(7, 10), image.at<cv::Vec3b>(7, 10));  // the heat over patch (0, 0)
  // The strips: the bar's top colour (viridis' yellow) at the right, dark caption text below.
  const cv::Mat bar = out(cv::Rect(120, 0, out.cols - 120, 90));
  const cv::Mat caption = out(cv::Rect(0, 90, out.cols, out.rows - 90));
  cv::Mat gray;
  cv::cvtColor(caption, gray, cv::COLOR_RGB2GRAY);
  double darkest = 255;
  cv::minMaxLoc(gray, &darkest);
  EXPECT_LT(darkest, 80);
  bool top_colour = false;
  const cv::Vec3d yellow = opencv_viridis(255);
  for (int y = 0; y < bar.rows; ++y) {
    for (int x = 0; x < bar.cols; ++x) top_colour |= cv::norm(cv::Vec3d(bar.at<cv::Vec3b>(y, x)) - yellow) < 2;
  }
  EXPECT_TRUE(top_colour);

  // Without the strips: exactly the original's size; small images never get strips.
  for (const cv::Size size : {cv::Size(96, 96), cv::Size(640, 480), cv::Size(37, 211), cv::Size(1, 1)}) {
    EXPECT_EQ(render_overlay(e, gray_image(size.width, size.height), "caption", heat_only()).size(), size);
  }
  EXPECT_EQ(render_overlay(e, gray_image(47, 300), "caption").size(), cv::Size(47, 300));
  const std::string png = render_overlay_png(e, gray_image(800, 600), "Q: a\nA: b");
  const cv::Mat decoded = cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_UNCHANGED);
  EXPECT_GT(decoded.cols, 800);
  EXPECT_GT(decoded.rows, 600);
}

TEST(RenderOverlayTest, BlendsWithTheHandComputedOpacity) {
  // 3 x 3 patches over 27 x 27 pixels: the centre pixel of a 9-pixel cell is
  // the cell's own value (bicubic weights 1, 0, 0, 0 there).
  const double values[3][3] = {{1.0, 2.0, 4.0}, {0.5, 3.0, 0.0}, {2.5, 1.5, 3.5}};
  const auto e = grid_explanation(3, 3, [&](int r, int c) { return values[r][c]; });
  OverlayOptions options = heat_only();
  options.alpha = 0.3;
  options.colour_map = ColourMap::kViridis;
  options.clip_percentile = 100.0;  // scale = the largest value, 4
  const cv::Mat image = gray_image(27, 27);  // 128 everywhere
  const cv::Mat out = render_overlay(e, image, "", options);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      const double v = values[r][c] / 4.0, a = 0.3 * v;
      const cv::Vec3d expected = cv::Vec3d(128, 128, 128) * (1.0 - a) + opencv_viridis(int(std::lround(v * 255))) * a;
      const cv::Vec3b got = out.at<cv::Vec3b>(9 * r + 4, 9 * c + 4);
      for (int k = 0; k < 3; ++k) EXPECT_NEAR(got[k], expected[k], 1.0) << r << "," << c << " channel " << k;
    }
  }
  // Relevance 0 leaves the pixel alone (no heat over irrelevant parts).
  EXPECT_EQ(out.at<cv::Vec3b>(13, 22), cv::Vec3b(128, 128, 128));
}

TEST(RenderOverlayTest, ClipsAtAPercentileOfTheValues) {
  // Values 1..100: NumPy's percentile(range(1, 101), 90) = 90.1.
  const auto e = grid_explanation(10, 10, [](int r, int c) { return 1.0 + r * 10 + c; });
  const cv::Mat grid = relevance_grid(e);
  const HeatScale scale = heat_scale(grid, ColourMap::kAuto, 90.0);
  EXPECT_EQ(scale.map, ColourMap::kViridis);  // no negative value
  EXPECT_FALSE(scale.diverging);
  EXPECT_NEAR(scale.scale, 90.1, 1e-12);
  const cv::Mat normalised = normalise_relevance(grid, scale);
  EXPECT_FLOAT_EQ(normalised.at<float>(9, 9), 1.0f);  // 100: clipped
  EXPECT_FLOAT_EQ(normalised.at<float>(9, 0), 1.0f);  // 91: clipped
  EXPECT_FLOAT_EQ(normalised.at<float>(4, 4), float(45.0 / 90.1));
  EXPECT_DOUBLE_EQ(heat_scale(grid, ColourMap::kAuto, 100.0).scale, 100.0);
  EXPECT_DOUBLE_EQ(percentile({3.0, 1.0, 2.0}, 50.0), 2.0);
  EXPECT_DOUBLE_EQ(percentile({1.0, 2.0}, 25.0), 1.25);
  EXPECT_DOUBLE_EQ(percentile({}, 50.0), 0.0);

  // A signed map goes diverging, centred at 0, scaled by |R|.
  const auto signed_map = grid_explanation(1, 3, [](int, int c) { return c == 0 ? -4.0 : c == 1 ? 2.0 : 0.0; });
  const HeatScale both = heat_scale(relevance_grid(signed_map), ColourMap::kAuto, 100.0);
  EXPECT_EQ(both.map, ColourMap::kDiverging);
  EXPECT_DOUBLE_EQ(both.scale, 4.0);
  const cv::Mat signed_normalised = normalise_relevance(relevance_grid(signed_map), both);
  EXPECT_FLOAT_EQ(signed_normalised.at<float>(0, 0), -1.0f);
  EXPECT_FLOAT_EQ(signed_normalised.at<float>(0, 1), 0.5f);
  // Negatives under a tenth of the largest value are noise: still viridis.
  const auto faint = grid_explanation(1, 3, [](int, int c) { return c == 0 ? -0.05 : c == 1 ? 0.9 : 0.0; });
  EXPECT_EQ(heat_scale(relevance_grid(faint), ColourMap::kAuto, 100.0).map, ColourMap::kViridis);
  const auto reaching = grid_explanation(1, 3, [](int, int c) { return c == 0 ? -0.2 : c == 1 ? 0.9 : 0.0; });
  EXPECT_EQ(heat_scale(relevance_grid(reaching), ColourMap::kAuto, 100.0).map, ColourMap::kDiverging);
  const auto all_negative = grid_explanation(1, 2, [](int, int c) { return c == 0 ? -1.0 : 0.0; });
  EXPECT_EQ(heat_scale(relevance_grid(all_negative), ColourMap::kAuto, 100.0).map, ColourMap::kDiverging);
  // Forced sequential: negatives clipped at 0, the scale from the positive part.
  const HeatScale sequential = heat_scale(relevance_grid(signed_map), ColourMap::kInferno, 100.0);
  EXPECT_DOUBLE_EQ(sequential.scale, 2.0);
  EXPECT_FLOAT_EQ(normalise_relevance(relevance_grid(signed_map), sequential).at<float>(0, 0), 0.0f);
  // Contrastive relevance is signed even when every value is positive.
  const auto positive = grid_explanation(2, 2, [](int r, int c) { return 1.0 + r + c; });
  EXPECT_TRUE(heat_scale(relevance_grid(positive), ColourMap::kAuto, 99.0, true).diverging);
  auto contrastive = positive;
  contrastive.contrast = ContrastAnswer{" blue", {}};
  EXPECT_TRUE(overlay_heat_scale(contrastive, OverlayOptions{}).diverging);
  EXPECT_EQ(colour_bar_labels(both).size(), 3u);
  EXPECT_EQ(colour_bar_labels(both).front().first, "+4");
  EXPECT_EQ(colour_bar_labels(both).back().first, "-4");
}

TEST(RenderOverlayTest, DivergingMapIsWhiteAtZeroAndBlueToRed) {
  const cv::Vec3b middle = colour_of(0.5, ColourMap::kDiverging);
  EXPECT_GT(std::min({middle[0], middle[1], middle[2]}), 235);
  const cv::Vec3b low = colour_of(0.0, ColourMap::kDiverging), high = colour_of(1.0, ColourMap::kDiverging);
  EXPECT_GT(low[2], low[0]);    // blue end
  EXPECT_GT(high[0], high[2]);  // red end
  // The inferno map starts black and ends light (OpenCV's table).
  EXPECT_LT(cv::norm(cv::Vec3d(colour_of(0.0, ColourMap::kInferno))), 20.0);
  EXPECT_GT(cv::norm(cv::Vec3d(colour_of(1.0, ColourMap::kInferno))), 300.0);
  EXPECT_EQ(parse_colour_map("inferno"), ColourMap::kInferno);
  EXPECT_EQ(colour_map_name(ColourMap::kDiverging), "diverging");
}

TEST(RenderOverlayTest, PatchBordersOnlyWhenAskedAndAroundWholeTiles) {
  const auto flat = grid_explanation(3, 3, [](int, int) { return 0.0; });
  OverlayOptions options = heat_only();
  const cv::Mat plain = render_overlay(flat, gray_image(60, 60), "", options);
  EXPECT_EQ(cv::countNonZero(plain.reshape(1) != 128), 0);  // no heat, no lines
  options.patch_borders = true;
  const cv::Mat lined = render_overlay(flat, gray_image(60, 60), "", options);
  const cv::Vec3b line(192, 192, 192), gray(128, 128, 128);  // halfway to white
  EXPECT_EQ(lined.at<cv::Vec3b>(10, 20), line);  // between patches (0, 0) and (0, 1)
  EXPECT_EQ(lined.at<cv::Vec3b>(20, 10), line);  // between patches (0, 0) and (1, 0)
  EXPECT_EQ(lined.at<cv::Vec3b>(10, 10), gray);  // inside a patch

  // 2 x 2 tiles over a 4 x 4 grid: one outline per tile, none inside it, and
  // the tile's value on all four of its patches.
  const auto tiled = with_tiles(grid_explanation(4, 4, [](int, int) { return 0.0; }), 4, 4,
                                [](int r, int c) { return r * 2 + c + 1.0; });
  const cv::Mat grid = relevance_grid(tiled);
  EXPECT_DOUBLE_EQ(grid.at<double>(1, 1), 1.0);
  EXPECT_DOUBLE_EQ(grid.at<double>(3, 2), 4.0);
  OverlayOptions no_heat = options;
  no_heat.alpha = 0.0;
  const cv::Mat tiles = render_overlay(tiled, gray_image(80, 80), "", no_heat);
  EXPECT_EQ(tiles.at<cv::Vec3b>(10, 20), gray);  // patch edge inside tile (0, 0)
  EXPECT_EQ(tiles.at<cv::Vec3b>(10, 40), line);  // tile edge
  EXPECT_EQ(image_unit_label(tiled.units[3], 4, 4), "tile (2-3, 2-3)");
  EXPECT_EQ(image_unit_label(flat.units[4], 3, 3), "patch (1, 1)");
}

TEST(RenderOverlayTest, RejectsBadOptionsWithOneLine) {
  const auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  auto message = [&](const OverlayOptions& options) {
    try {
      render_overlay(e, gray_image(60, 60), "", options);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  OverlayOptions o;
  o.alpha = 1.5;
  EXPECT_EQ(message(o), "overlay: alpha must lie in [0, 1], got 1.5");
  o.alpha = -0.1;
  EXPECT_EQ(message(o), "overlay: alpha must lie in [0, 1], got -0.1");
  o.alpha = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(message(o), "overlay: alpha must lie in [0, 1], got nan");
  o = {};
  o.clip_percentile = 0.0;
  EXPECT_EQ(message(o), "overlay: the clip percentile must lie in (0, 100], got 0");
  o.clip_percentile = 100.5;
  EXPECT_EQ(message(o), "overlay: the clip percentile must lie in (0, 100], got 100.5");
  EXPECT_THROW(heat_scale(relevance_grid(e), ColourMap::kAuto, -1.0), std::invalid_argument);
  try {
    parse_colour_map("rainbow");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "unknown colour map 'rainbow' (expected one of auto, viridis, inferno, turbo, diverging)");
  }
}

TEST(RenderOverlayTest, NoRelevanceGivesTheImageWithoutDivisionByZero) {
  const auto zero = grid_explanation(6, 6, [](int, int) { return 0.0; });
  const HeatScale scale = heat_scale(relevance_grid(zero), ColourMap::kAuto, 99.0);
  EXPECT_EQ(scale.scale, 0.0);
  EXPECT_EQ(cv::countNonZero(normalise_relevance(relevance_grid(zero), scale)), 0);
  const cv::Mat image = gradient_image(64, 64);
  const cv::Mat out = render_overlay(zero, image, "");
  EXPECT_EQ(cv::norm(out(cv::Rect(0, 0, 64, 64)), image, cv::NORM_INF), 0.0);
  EXPECT_GT(out.rows, 64);  // the "(all relevance is 0)" note below

  // NaN and infinity count as 0.
  const auto odd = grid_explanation(6, 6, [](int r, int c) {
    if (r == 0) return std::numeric_limits<double>::quiet_NaN();
    if (r == 1) return std::numeric_limits<double>::infinity();
    return c == 3 ? 0.5 : 0.0;
  });
  const cv::Mat grid = relevance_grid(odd);
  EXPECT_EQ(grid.at<double>(0, 0), 0.0);
  EXPECT_EQ(grid.at<double>(1, 0), 0.0);
  const HeatScale odd_scale = heat_scale(grid, ColourMap::kAuto, 100.0);
  EXPECT_EQ(odd_scale.scale, 0.5);
  EXPECT_FLOAT_EQ(normalise_relevance(grid, odd_scale).at<float>(3, 3), 1.0f);
}

TEST(RenderOverlayTest, AcceptsGrayAndRgbaAndScales) {
  const auto e = grid_explanation(4, 4, [](int r, int c) { return r * 4 + c; });
  cv::Mat gray(50, 70, CV_8UC1, cv::Scalar(100));
  cv::Mat rgba(50, 70, CV_8UC4, cv::Scalar(10, 20, 30, 255));
  EXPECT_EQ(render_overlay(e, gray, "", heat_only()).size(), cv::Size(70, 50));
  EXPECT_EQ(render_overlay(e, rgba, "", heat_only()).size(), cv::Size(70, 50));
  OverlayOptions twice = heat_only();
  twice.scale = 2.0;
  EXPECT_EQ(render_overlay(e, rgba, "caption", twice).size(), cv::Size(140, 100));
}

TEST(RenderOverlayTest, RejectsBadInputWithAMessage) {
  auto text_only = grid_explanation(2, 2, [](int, int) { return 1.0; });
  text_only.image_grid.reset();
  try {
    render_overlay(text_only, gray_image(10, 10), "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "relevance_grid: the explanation has no image grid (text-only input)");
  }
  auto outside = grid_explanation(2, 2, [](int, int) { return 1.0; });
  outside.units[3].patch_row = 5;
  try {
    relevance_grid(outside);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "relevance_grid: patch (5, 1) of position 3 lies outside the [2, 2] grid");
  }
  const auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  try {
    render_overlay(e, cv::Mat(), "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "render_overlay: the original image is empty");
  }
  try {
    render_overlay(e, cv::Mat(8, 8, CV_32FC3), "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "render_overlay: expected an 8-bit image, got depth 5 with 3 channels");
  }
}

TEST(RenderOverlayTest, PerTargetSelection) {
  auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  e.targets.push_back({8, "\u2581berry", 0.5});
  for (auto& unit : e.units) unit.per_target = {0.25 * unit.index, 1.0 - 0.25 * unit.index};
  const cv::Mat first = relevance_grid(e, 0), second = relevance_grid(e, 1);
  EXPECT_DOUBLE_EQ(first.at<double>(1, 1), 0.75);
  EXPECT_DOUBLE_EQ(second.at<double>(1, 1), 0.25);
  EXPECT_THROW(relevance_grid(e, 2), std::invalid_argument);
}

// image.resize: the heat lands where the model looked (docs/contract.md, "Pixels").
TEST(RenderOverlayTest, HeatMapsBackThroughCropAndPadding) {
  const cv::Mat one(1, 1, CV_32F, cv::Scalar(1.0f));
  // center_crop of a 4 x 2 image to 2 x 2: the model saw columns 1..2; the rest gets no heat.
  cv::Mat heat = heat_over_image(one, cv::Size(4, 2), ImageView{1.0, 0.0, 3.0, 2.0});
  ASSERT_EQ(heat.size(), cv::Size(4, 2));
  for (int y = 0; y < 2; ++y) {
    EXPECT_FLOAT_EQ(heat.at<float>(y, 0), 0.0f);
    EXPECT_FLOAT_EQ(heat.at<float>(y, 1), 1.0f);
    EXPECT_FLOAT_EQ(heat.at<float>(y, 2), 1.0f);
    EXPECT_FLOAT_EQ(heat.at<float>(y, 3), 0.0f);
  }
  // pad: the view is the 4 x 4 square around the image; its top and bottom rows
  // (padding) are cut off, so the image shows the middle of a 2-row grid: the
  // lower half of row 0 (value 1) and the upper half of row 1 (value 0).
  cv::Mat grid(2, 1, CV_32F);
  grid.at<float>(0, 0) = 1.0f;
  grid.at<float>(1, 0) = 0.0f;
  heat = heat_over_image(grid, cv::Size(4, 2), ImageView{0.0, -1.0, 4.0, 3.0});
  ASSERT_EQ(heat.size(), cv::Size(4, 2));
  EXPECT_GT(heat.at<float>(0, 0), 0.5f);
  EXPECT_LT(heat.at<float>(1, 0), 0.5f);
  // The whole image as the view: exactly upsample_heatmap.
  const cv::Mat same = heat_over_image(grid, cv::Size(4, 2), ImageView{0.0, 0.0, 4.0, 2.0});
  EXPECT_EQ(cv::norm(same, upsample_heatmap(grid, cv::Size(4, 2)), cv::NORM_INF), 0.0);
}

TEST(RenderOverlayTest, CaptionHelper) {
  EXPECT_EQ(overlay_caption("What color is the circle?", " red "), "Q: What color is the circle?\nA: red");
}

TEST(RenderOverlayTest, WritesAtomicallyAndNamesTheOverlayOnFailure) {
  TempDir dir;
  const auto e = grid_explanation(3, 3, [](int r, int c) { return r + c; });
  write_overlay_png(e, gray_image(60, 60), "Q: a\nA: b", dir.file("overlay.png"), heat_only());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"overlay.png"});
  EXPECT_EQ(cv::imread(dir.file("overlay.png")).size(), cv::Size(60, 60));
  try {
    write_overlay_png(e, gray_image(60, 60), "", "/nonexistent-atman-folder/x.png");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "cannot write overlay: /nonexistent-atman-folder/x.png: No such file or directory");
  }
}

}  // namespace
}  // namespace atman
