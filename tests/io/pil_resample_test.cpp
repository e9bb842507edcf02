#include "atman/io/pil_resample.h"

#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/image.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

cv::Mat one_row(const std::vector<uint8_t>& gray) {
  cv::Mat m(1, static_cast<int>(gray.size()), CV_8UC3);
  for (size_t i = 0; i < gray.size(); ++i) m.at<cv::Vec3b>(0, static_cast<int>(i)) = cv::Vec3b(gray[i], gray[i], gray[i]);
  return m;
}

std::vector<int> first_channel(const cv::Mat& m) {
  std::vector<int> out;
  for (int x = 0; x < m.cols; ++x) out.push_back(m.at<cv::Vec3b>(0, x)[0]);
  return out;
}

// Worked by hand from Pillow's definition. Halving [0, 255, 0, 255] with the
// triangle filter: the support widens to 2 input pixels, output 0 (centre 1.0)
// reads inputs 0..2 with weights 0.75, 0.75, 0.25 (/ 1.75), i.e. 255 * 3/7 =
// 109.3 -> 109; output 1 (centre 3.0) reads 1..3 with 1/7, 3/7, 3/7: 145.7 ->
// 146 (22-bit fixed point, rounded down after adding one half). OpenCV's
// bilinear would sample two inputs only.
TEST(PilResampleTest, BilinearReductionWidensTheSupport) {
  EXPECT_EQ(first_channel(pil_resize(one_row({0, 255, 0, 255}), 1, 2, PilFilter::kBilinear)),
            (std::vector<int>{109, 146}));
}

// Doubling [0, 255] with Keys' cubic (a = -0.5): output 1 (centre 0.75) reads
// inputs 0 and 1 at distances 0.25 and 0.75 (the support is cut at the edge):
// weights 0.8671875 and 0.2265625, normalised 0.7929 and 0.2071: 52.8 -> 53;
// output 0 gets a negative weight on 255: clipped to 0. Symmetric on the right.
TEST(PilResampleTest, BicubicEnlargementClipsAndRenormalisesAtTheEdges) {
  EXPECT_EQ(first_channel(pil_resize(one_row({0, 255}), 1, 4, PilFilter::kBicubic)),
            (std::vector<int>{0, 53, 202, 255}));
}

TEST(PilResampleTest, SameSizeIsACopyAndBadInputIsRefused) {
  const cv::Mat row = one_row({3, 200, 17});
  const cv::Mat same = pil_resize(row, 1, 3, PilFilter::kLanczos);
  EXPECT_EQ(cv::norm(same, row, cv::NORM_INF), 0.0);
  EXPECT_NE(same.data, row.data);
  expect_error([&] { pil_resize(cv::Mat(2, 2, CV_8UC1), 1, 1, PilFilter::kBicubic); },
               {"pil_resize: expected an 8-bit RGB image"});
  expect_error([&] { pil_resize(row, 0, 3, PilFilter::kBicubic); },
               {"pil_resize: expected a target size in 1..65536, got 0x3"});
}

cv::Mat read_ppm_rgb(const std::string& path) {
  const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  EXPECT_FALSE(bgr.empty()) << path;
  cv::Mat rgb;
  if (!bgr.empty()) cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

// Against Debian's python3-pil: tests/io/pil_resize/ holds pictures of odd
// sizes resized by Pillow with every filter (smaller, larger, mixed) and two
// whole processor pipelines (CLIP's shortest edge + centre crop), written by
// tests/python/make_pil_fixtures.py. model_image must give the same bytes.
TEST(PilResampleTest, ModelImageEqualsPillowOnOddSizes) {
  const std::string dir = std::string(ATMAN_SOURCE_DIR) + "/tests/io/pil_resize/";
  std::ifstream in(dir + "cases.json");
  ASSERT_TRUE(in) << dir << "cases.json";
  const nlohmann::json cases = nlohmann::json::parse(in)["cases"];
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dump());
    ImageConfig config;
    config.height = c["size"][0];
    config.width = c["size"][1];
    config.grid_rows = config.grid_cols = 1;
    config.resize = c["resize"] == "center_crop" ? ImageResize::kCenterCrop : ImageResize::kStretch;
    bool known = false;
    for (const ImageResample r : kImageResamples) {
      if (c["resample"] == image_resample_name(r)) config.resample = r, known = true;
    }
    ASSERT_TRUE(known);
    const cv::Mat got = model_image(read_ppm_rgb(dir + c["input"].get<std::string>()), config);
    const cv::Mat want = read_ppm_rgb(dir + c["expected"].get<std::string>());
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(cv::norm(got, want, cv::NORM_INF), 0.0);  // bit-exact (the issue asks for 1/255)
  }
}

// SiglipImageProcessor's whole pipeline by hand: resize straight to the size
// (Pillow's bicubic: [0, 255] -> [0, 53, 202, 255], worked out above), rescale
// by 1/255, normalise with mean 0.5 and std 0.5: 2 v / 255 - 1.
TEST(PilResampleTest, SiglipPipelineByHand) {
  ImageConfig config;
  config.height = 1;
  config.width = 4;
  config.grid_rows = config.grid_cols = 1;
  config.mean = {0.5, 0.5, 0.5};
  config.std = {0.5, 0.5, 0.5};
  config.resample = ImageResample::kPilBicubic;
  const at::Tensor pixels = image_to_tensor(one_row({0, 255}), config);
  ASSERT_EQ(pixels.sizes(), at::IntArrayRef({1, 3, 1, 4}));
  const double want[] = {-1.0, 2.0 * 53 / 255 - 1, 2.0 * 202 / 255 - 1, 1.0};
  for (int x = 0; x < 4; ++x) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(pixels[0][c][0][x].item<float>(), want[x], 1e-6) << x;
  }
}

// CLIPImageProcessor by hand on a 4 x 2 picture to 2 x 2: the shortest edge is
// already 2, so the long one stays int(2 * 4 / 2) = 4 and Pillow does not
// filter (sizes equal); the crop starts at column (4 - 2) // 2 = 1.
TEST(PilResampleTest, ClipCropWithoutResizeKeepsThePixels) {
  cv::Mat picture(2, 4, CV_8UC3);
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) picture.at<cv::Vec3b>(y, x) = cv::Vec3b(10 * x + y, 100 + x, 200 - y);
  }
  ImageConfig config;
  config.height = config.width = 2;
  config.grid_rows = config.grid_cols = 1;
  config.resize = ImageResize::kCenterCrop;
  config.resample = ImageResample::kPilBilinear;
  const cv::Mat got = model_image(picture, config);
  EXPECT_EQ(cv::norm(got, picture(cv::Rect(1, 0, 2, 2)), cv::NORM_INF), 0.0);
}

// Without image.resample nothing changes: OpenCV's area filter on reduction.
TEST(PilResampleTest, DefaultResampleStaysOpenCv) {
  const cv::Mat in = read_ppm_rgb(std::string(ATMAN_SOURCE_DIR) + "/tests/io/pil_resize/in_37x23.ppm");
  ImageConfig config;
  config.height = 11;
  config.width = 16;
  config.grid_rows = config.grid_cols = 1;
  cv::Mat area;
  cv::resize(in, area, cv::Size(16, 11), 0, 0, cv::INTER_AREA);
  EXPECT_EQ(cv::norm(model_image(in, config), area, cv::NORM_INF), 0.0);
  config.resample = ImageResample::kPilBicubic;
  EXPECT_GT(cv::norm(model_image(in, config), area, cv::NORM_INF), 0.0);
}

}  // namespace
}  // namespace atman
