// Tests of the overlay PNG (render/overlay.h): colour map levels read back
// from the pixels, degenerate relevance, input checks, the atomic write.

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

// Position of `rgb` on the colour map: the index 0..255 of its nearest entry.
int colour_map_level(const cv::Vec3b& rgb, ColourMap map) {
  int best = 0;
  double best_distance = std::numeric_limits<double>::max();
  for (int level = 0; level < 256; ++level) {
    const cv::Vec3b entry = colour_of(level / 255.0, map);
    const double distance = cv::norm(cv::Vec3d(entry) - cv::Vec3d(rgb));
    if (distance < best_distance) {
      best_distance = distance;
      best = level;
    }
  }
  return best;
}

// Level 0..255 whose blend over a uniform `gray` image best explains `rgb`.
int blended_level(const cv::Vec3b& rgb, double gray, const OverlayOptions& options) {
  int best = 0;
  double best_distance = std::numeric_limits<double>::max();
  for (int level = 0; level < 256; ++level) {
    const double v = level / 255.0;
    const double a = options.min_alpha + (options.max_alpha - options.min_alpha) * v;
    const cv::Vec3d expected = cv::Vec3d(gray, gray, gray) * (1.0 - a) + cv::Vec3d(colour_of(v, options.colour_map)) * a;
    const double distance = cv::norm(expected - cv::Vec3d(rgb));
    if (distance < best_distance) {
      best_distance = distance;
      best = level;
    }
  }
  return best;
}

// Centre pixel of patch (r, c) of a rows x cols grid over `image`.
cv::Vec3b patch_centre(const cv::Mat& image, int rows, int cols, int r, int c) {
  const int x = static_cast<int>((c + 0.5) * image.cols / cols);
  const int y = static_cast<int>((r + 0.5) * image.rows / rows);
  return image.at<cv::Vec3b>(y, x);
}

TEST(RenderOverlay, PngDecodesWithTheOriginalsSize) {
  const auto e = grid_explanation(12, 12, [](int r, int c) { return std::sin(r * 0.7) + std::cos(c * 0.3); });
  for (const cv::Size size : {cv::Size(96, 96), cv::Size(640, 480), cv::Size(37, 211), cv::Size(32, 32),
                              cv::Size(1, 1), cv::Size(2000, 1500)}) {
    const std::string png = render_overlay_png(e, gray_image(size.width, size.height),
                                               overlay_caption("What color is the circle?", " red"));
    const cv::Mat decoded = cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(decoded.empty()) << size;
    EXPECT_EQ(decoded.size(), size);
    EXPECT_EQ(decoded.type(), CV_8UC3);
  }
}

TEST(RenderOverlay, MostRelevantPatchIsWarmestOnTheColourMap) {
  // Peak at patch (2, 2), least relevant at (9, 1); away from bar and caption.
  const auto e = grid_explanation(12, 12, [](int r, int c) {
    if (r == 9 && c == 1) return -2.0;
    return 3.0 * std::exp(-((r - 2) * (r - 2) + (c - 2) * (c - 2)) / 4.0);
  });
  for (ColourMap map : {ColourMap::kTurbo, ColourMap::kViridis}) {
    OverlayOptions opaque;
    opaque.colour_map = map;
    opaque.min_alpha = opaque.max_alpha = 1.0;  // pure colour map: levels can be read back
    const cv::Mat pure = render_overlay(e, gray_image(192, 192), "", opaque);
    const int hot = colour_map_level(patch_centre(pure, 12, 12, 2, 2), map);
    const int cold = colour_map_level(patch_centre(pure, 12, 12, 9, 1), map);
    EXPECT_GE(hot, 240);
    EXPECT_LE(cold, 10);

    // With the default blend over a gray image the levels read back the same way.
    OverlayOptions blended;
    blended.colour_map = map;
    const cv::Mat out = render_overlay(e, gray_image(192, 192), "Q: x\nA: y", blended);
    EXPECT_GE(blended_level(patch_centre(out, 12, 12, 2, 2), 128, blended), 240);
    EXPECT_LE(blended_level(patch_centre(out, 12, 12, 9, 1), 128, blended), 10);
  }
  // Viridis' lightness rises with relevance.
  OverlayOptions viridis;
  viridis.colour_map = ColourMap::kViridis;
  cv::Mat gray;
  cv::cvtColor(render_overlay(e, gray_image(192, 192), "", viridis), gray, cv::COLOR_RGB2GRAY);
  EXPECT_GT(gray.at<uchar>(40, 40), gray.at<uchar>(152, 24));
}

TEST(RenderOverlay, NoPositiveRelevanceGivesTheBottomColourWithoutDivisionByZero) {
  // All <= 0: normalised map all 0, max 0.
  const auto negative = grid_explanation(6, 6, [](int r, int c) { return -1.0 - r - c; });
  double max_relevance = -1.0;
  const cv::Mat normalised = normalise_relevance(relevance_grid(negative), &max_relevance);
  EXPECT_EQ(max_relevance, 0.0);
  EXPECT_EQ(cv::countNonZero(normalised), 0);

  OverlayOptions plain;
  plain.colour_bar = false;
  plain.min_alpha = plain.max_alpha = 1.0;
  const cv::Mat out = render_overlay(negative, gray_image(64, 64), "", plain);
  // Without a caption requested there is still the "(no positive relevance)"
  // note strip; the upper half is uniformly the map's bottom colour.
  const cv::Vec3b bottom = colour_of(0.0, ColourMap::kTurbo);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 64; ++x) ASSERT_EQ(out.at<cv::Vec3b>(y, x), bottom) << x << "," << y;
  }

  // NaN and infinity count as 0; all-zero is handled like all-negative.
  const auto odd = grid_explanation(6, 6, [](int r, int c) {
    if (r == 0) return std::numeric_limits<double>::quiet_NaN();
    if (r == 1) return std::numeric_limits<double>::infinity();
    return c == 3 ? 0.5 : 0.0;
  });
  const cv::Mat grid = relevance_grid(odd);
  EXPECT_EQ(grid.at<double>(0, 0), 0.0);
  EXPECT_EQ(grid.at<double>(1, 0), 0.0);
  const cv::Mat odd_normalised = normalise_relevance(grid, &max_relevance);
  EXPECT_EQ(max_relevance, 0.5);
  EXPECT_FLOAT_EQ(odd_normalised.at<float>(3, 3), 1.0f);
  const auto zero = grid_explanation(6, 6, [](int, int) { return 0.0; });
  const std::string png = render_overlay_png(zero, gray_image(50, 40), "Q: a\nA: b");
  EXPECT_FALSE(cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_COLOR).empty());
}

TEST(RenderOverlay, AcceptsGrayAndRgbaAndScales) {
  const auto e = grid_explanation(4, 4, [](int r, int c) { return r * 4 + c; });
  cv::Mat gray(50, 70, CV_8UC1, cv::Scalar(100));
  cv::Mat rgba(50, 70, CV_8UC4, cv::Scalar(10, 20, 30, 255));
  EXPECT_EQ(render_overlay(e, gray, "").size(), cv::Size(70, 50));
  EXPECT_EQ(render_overlay(e, rgba, "").size(), cv::Size(70, 50));
  OverlayOptions twice;
  twice.scale = 2.0;
  EXPECT_EQ(render_overlay(e, rgba, "caption", twice).size(), cv::Size(140, 100));
}

TEST(RenderOverlay, RejectsBadInputWithAMessage) {
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

TEST(RenderOverlay, PerTargetSelection) {
  auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  e.targets.push_back({8, "\u2581berry", 0.5});
  for (auto& unit : e.units) unit.per_target = {0.25 * unit.index, 1.0 - 0.25 * unit.index};
  const cv::Mat first = relevance_grid(e, 0), second = relevance_grid(e, 1);
  EXPECT_DOUBLE_EQ(first.at<double>(1, 1), 0.75);
  EXPECT_DOUBLE_EQ(second.at<double>(1, 1), 0.25);
  EXPECT_THROW(relevance_grid(e, 2), std::invalid_argument);
}

// image.resize: the heat lands where the model looked (docs/contract.md, "Pixels").
TEST(RenderOverlay, HeatMapsBackThroughCropAndPadding) {
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

TEST(RenderOverlay, CaptionHelper) {
  EXPECT_EQ(overlay_caption("What color is the circle?", " red "), "Q: What color is the circle?\nA: red");
}

TEST(RenderOverlay, WritesAtomicallyAndNamesTheOverlayOnFailure) {
  TempDir dir;
  const auto e = grid_explanation(3, 3, [](int r, int c) { return r + c; });
  write_overlay_png(e, gray_image(60, 60), "Q: a\nA: b", dir.file("overlay.png"));
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
