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
