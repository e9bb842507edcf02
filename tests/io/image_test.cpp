#include "atman/io/image.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::TempDir;

std::string encode(const cv::Mat& m, const std::string& ext) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf));
  return std::string(buf.begin(), buf.end());
}

TEST(PatchMapTest, TilesTheImageExactly) {
  const auto rects = patch_rectangles(100, 50, 3, 4);  // width 100, height 50
  ASSERT_EQ(rects.size(), 12u);
  // rows: floor(r*50/3) = 0, 16, 33, 50; cols: floor(c*100/4) = 0, 25, 50, 75, 100
  EXPECT_EQ(rects[0].x0, 0);
  EXPECT_EQ(rects[0].y0, 0);
  EXPECT_EQ(rects[0].x1, 25);
  EXPECT_EQ(rects[0].y1, 16);
  EXPECT_EQ(rects[5].x0, 25);  // row 1, col 1
  EXPECT_EQ(rects[5].y0, 16);
  EXPECT_EQ(rects[5].y1, 33);
  EXPECT_EQ(rects[11].x1, 100);
  EXPECT_EQ(rects[11].y1, 50);
  int64_t area = 0;
  for (const auto& r : rects) area += static_cast<int64_t>(r.width()) * r.height();
  EXPECT_EQ(area, 100 * 50);
  const auto square = patch_rectangles(96, 96, 12, 12);
  for (const auto& r : square) {
    EXPECT_EQ(r.width(), 8);
    EXPECT_EQ(r.height(), 8);
  }
  EXPECT_THROW(patch_rectangles(0, 10, 2, 2), c10::Error);
}

// image.resize (docs/contract.md, "Pixels") on a 4 x 2 image (width 4, height
// 2), gray levels per pixel, for a 2 x 2 model input; every expected value is
// computed by hand (area averaging of exact pairs and blocks).
cv::Mat four_by_two() {
  cv::Mat rgb(2, 4, CV_8UC3);
  const int values[2][4] = {{0, 40, 80, 120}, {160, 200, 240, 252}};
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) rgb.at<cv::Vec3b>(y, x) = cv::Vec3b(values[y][x], values[y][x], values[y][x]);
  }
  return rgb;
}

ImageConfig two_by_two(ImageResize resize) {
  ImageConfig c;
  c.height = c.width = c.grid_rows = c.grid_cols = 2;
  c.mean = {0.4, 0.4, 0.4};  // LLaVA's pad colour: int(0.4 * 255) = 102
  c.std = {0.5, 0.5, 0.5};
  c.resize = resize;
  return c;
}

void expect_pixels(ImageResize resize, const std::vector<int>& want) {
  const ImageConfig c = two_by_two(resize);
  const at::Tensor t = image_to_tensor(four_by_two(), c);  // [1, 3, 2, 2]
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{1, 3, 2, 2}));
  for (int ch = 0; ch < 3; ++ch) {
    for (int i = 0; i < 4; ++i) {
      const double expected = (want[i] / 255.0 - 0.4) / 0.5;
      EXPECT_NEAR(t[0][ch][i / 2][i % 2].item<double>(), expected, 1e-6) << "pixel " << i << " channel " << ch;
    }
  }
}

TEST(ImageResizeTest, StretchCropAndPadGiveTheHandComputedPixels) {
  // stretch: 4 x 2 -> 2 x 2, each output the mean of a horizontal pair.
  expect_pixels(ImageResize::kStretch, {20, 100, 180, 246});
  // center_crop: the height already fits (scale 1), the width 4 is cut to its centre columns 1 and 2.
  expect_pixels(ImageResize::kCenterCrop, {40, 80, 200, 240});
  // pad: a 4 x 4 square with one row of 102 above and below, then 2 x 2 blocks averaged:
  // (102+102+0+40)/4 = 61, (102+102+80+120)/4 = 101, (160+200+102+102)/4 = 141, (240+252+102+102)/4 = 174.
  expect_pixels(ImageResize::kPad, {61, 101, 141, 174});
  const cv::Mat padded = model_image(four_by_two(), two_by_two(ImageResize::kPad));
  EXPECT_EQ(padded.size(), cv::Size(2, 2));
}

TEST(ImageResizeTest, ViewAndPatchRectanglesMapBackThroughCropAndPadding) {
  ImageView v = model_view(4, 2, two_by_two(ImageResize::kStretch));
  EXPECT_DOUBLE_EQ(v.x0, 0.0);
  EXPECT_DOUBLE_EQ(v.x1, 4.0);
  v = model_view(4, 2, two_by_two(ImageResize::kCenterCrop));  // columns 1..2 of the original
  EXPECT_DOUBLE_EQ(v.x0, 1.0);
  EXPECT_DOUBLE_EQ(v.x1, 3.0);
  EXPECT_DOUBLE_EQ(v.y0, 0.0);
  EXPECT_DOUBLE_EQ(v.y1, 2.0);
  v = model_view(4, 2, two_by_two(ImageResize::kPad));  // the square reaches one row into the padding each side
  EXPECT_DOUBLE_EQ(v.x0, 0.0);
  EXPECT_DOUBLE_EQ(v.y0, -1.0);
  EXPECT_DOUBLE_EQ(v.y1, 3.0);

  auto rect_is = [](const PixelRect& r, int x0, int y0, int x1, int y1) {
    EXPECT_EQ(r.x0, x0);
    EXPECT_EQ(r.y0, y0);
    EXPECT_EQ(r.x1, x1);
    EXPECT_EQ(r.y1, y1);
  };
  auto crop = patch_rectangles(4, 2, two_by_two(ImageResize::kCenterCrop));
  ASSERT_EQ(crop.size(), 4u);
  rect_is(crop[0], 1, 0, 2, 1);
  rect_is(crop[3], 2, 1, 3, 2);
  auto pad = patch_rectangles(4, 2, two_by_two(ImageResize::kPad));
  rect_is(pad[0], 0, 0, 2, 1);  // its upper half is padding
  rect_is(pad[3], 2, 1, 4, 2);
  ImageConfig fine = two_by_two(ImageResize::kPad);
  fine.grid_rows = fine.grid_cols = 4;
  fine.height = fine.width = 4;
  pad = patch_rectangles(4, 2, fine);  // row edges -1, 0, 1, 2, 3: rows 0 and 3 lie wholly in the padding
  EXPECT_EQ(pad[0].height(), 0);
  EXPECT_EQ(pad[15].height(), 0);
  rect_is(pad[5], 1, 0, 2, 1);
  // stretch: as the plain grid.
  ImageConfig stretch = two_by_two(ImageResize::kStretch);
  stretch.grid_rows = 3;
  stretch.grid_cols = 4;
  const auto a = patch_rectangles(100, 50, stretch), b = patch_rectangles(100, 50, 3, 4);
  for (size_t i = 0; i < a.size(); ++i) rect_is(a[i], b[i].x0, b[i].y0, b[i].x1, b[i].y1);
  // A larger non-square image, center_crop to 32 x 32: scaled to 64 x 32, crop from x = 16,
  // i.e. original columns 25 .. 75; a 4 x 4 grid's column edges 25, 37.5, 50, 62.5, 75 floored.
  ImageConfig big = two_by_two(ImageResize::kCenterCrop);
  big.height = big.width = 32;
  big.grid_rows = big.grid_cols = 4;
  const auto wide = patch_rectangles(100, 50, big);
  rect_is(wide[0], 25, 0, 37, 12);
  rect_is(wide[15], 62, 37, 75, 50);
  const cv::Mat cropped = model_image(cv::Mat(50, 100, CV_8UC3, cv::Scalar(9, 9, 9)), big);
  EXPECT_EQ(cropped.size(), cv::Size(32, 32));
}

TEST(ImageTest, ConvertsGrayAlphaAnd16BitToRgb8) {
  cv::Mat gray(4, 5, CV_8UC1, cv::Scalar(77));
  cv::Mat rgb = decode_image_rgb(encode(gray, ".png"), "gray.png");
  ASSERT_EQ(rgb.type(), CV_8UC3);
  EXPECT_EQ(rgb.at<cv::Vec3b>(2, 3), cv::Vec3b(77, 77, 77));

  cv::Mat bgra(3, 3, CV_8UC4, cv::Scalar(10, 20, 30, 0));  // B, G, R, alpha 0
  rgb = decode_image_rgb(encode(bgra, ".png"), "alpha.png");
  EXPECT_EQ(rgb.at<cv::Vec3b>(1, 1), cv::Vec3b(30, 20, 10));  // alpha dropped, RGB order

  cv::Mat deep(2, 2, CV_16UC3, cv::Scalar(0, 257 * 100, 65535));
  rgb = decode_image_rgb(encode(deep, ".png"), "deep.png");
  EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 100, 0));

  cv::Mat bgr(6, 7, CV_8UC3, cv::Scalar(1, 2, 3));
  for (const char* ext : {".bmp", ".tiff", ".ppm", ".webp"}) {
    SCOPED_TRACE(ext);
    rgb = decode_image_rgb(encode(bgr, ext), std::string("x") + ext);
    EXPECT_EQ(rgb.size(), cv::Size(7, 6));
    EXPECT_EQ(rgb.at<cv::Vec3b>(0, 0), cv::Vec3b(3, 2, 1));
  }
}

TEST(ImageTest, RefusesMissingEmptyTruncatedAndNonImages) {
  TempDir tmp;
  expect_error([&] { read_image_rgb(tmp.path("nope.png")); }, {tmp.path("nope.png") + ": image file not found"});
  testing::write_file(tmp.path("empty.png"), "");
  expect_error([&] { read_image_rgb(tmp.path("empty.png")); }, {tmp.path("empty.png") + ": image file is empty"});
  testing::write_file(tmp.path("text.png"), "this is not an image at all");
  expect_error([&] { read_image_rgb(tmp.path("text.png")); },
               {tmp.path("text.png") + ": not an image OpenCV can decode"});
  cv::Mat noise(64, 64, CV_8UC3);
  cv::randu(noise, 0, 255);
  const std::string png = encode(noise, ".png");
  testing::write_file(tmp.path("cut.png"), png.substr(0, png.size() / 2));
  expect_error([&] { read_image_rgb(tmp.path("cut.png")); },
               {tmp.path("cut.png") + ": image file is truncated (PNG without its IEND chunk)"});
  const std::string jpg = encode(noise, ".jpg");
  testing::write_file(tmp.path("cut.jpg"), jpg.substr(0, jpg.size() / 2));
  expect_error([&] { read_image_rgb(tmp.path("cut.jpg")); },
               {tmp.path("cut.jpg") + ": image file is truncated (JPEG without its end marker)"});
  expect_error([&] { read_image_rgb(tmp.dir().string()); }, {"image path is a directory"});
}

TEST(ImageTest, TensorIsResizedScaledAndNormalised) {
  ImageConfig config;
  config.height = 4;
  config.width = 6;
  config.mean = {0.5, 0.25, 0.0};
  config.std = {0.5, 0.25, 2.0};
  cv::Mat rgb(8, 12, CV_8UC3, cv::Scalar(255, 51, 0));  // R=255, G=51, B=0
  at::Tensor t = image_to_tensor(rgb, config);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{1, 3, 4, 6}));
  EXPECT_NEAR(t[0][0][2][3].item<double>(), (1.0 - 0.5) / 0.5, 1e-6);
  EXPECT_NEAR(t[0][1][0][0].item<double>(), (0.2 - 0.25) / 0.25, 1e-6);
  EXPECT_NEAR(t[0][2][3][5].item<double>(), 0.0, 1e-6);
}

TEST(ImageTest, ResizesWithAreaWhenShrinkingAndLinearWhenEnlarging) {
  cv::Mat rgb(10, 20, CV_8UC3);
  cv::randu(rgb, 0, 255);
  cv::Mat expected;
  cv::resize(rgb, expected, cv::Size(8, 8), 0, 0, cv::INTER_AREA);
  EXPECT_EQ(cv::norm(resize_for_model(rgb, 8, 8), expected, cv::NORM_INF), 0.0);
  cv::resize(rgb, expected, cv::Size(30, 30), 0, 0, cv::INTER_LINEAR);
  EXPECT_EQ(cv::norm(resize_for_model(rgb, 30, 30), expected, cv::NORM_INF), 0.0);
  cv::resize(rgb, expected, cv::Size(15, 15), 0, 0, cv::INTER_AREA);  // width shrinks: area
  EXPECT_EQ(cv::norm(resize_for_model(rgb, 15, 15), expected, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace atman
