// `atman explain --contrast`, `--target-granularity`, `--postprocess` and
// `--normalize` through the real binary: what the JSON records, the image
// rectangles against the patch grid, and every bad value as one line.

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::read_file;
using testing::RunResult;
using testing::run_atman;
using testing::TempDir;
using testing::test_model;

constexpr int kWidth = 150, kHeight = 120;

std::string write_image(const TempDir& tmp) {
  cv::Mat bgr(kHeight, kWidth, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(bgr, cv::Point(45, 50), 22, cv::Scalar(40, 40, 220), cv::FILLED);
  const std::string path = tmp.path("shapes.png");
  EXPECT_TRUE(cv::imwrite(path, bgr));
  return path;
}

std::vector<std::string> explain_args(const TempDir& tmp, const std::string& image, const std::string& target) {
  return {"explain", "--model", test_model("image_text.pt"), "--image", image, "--question",
          "What color is the circle?", "--target", target, "--json", tmp.path("out.json"), "--quiet"};
}

nlohmann::json run_json(std::vector<std::string> args, const std::vector<std::string>& extra, const TempDir& tmp) {
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = run_atman(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(read_file(tmp.path("out.json")));
}

TEST(E2eContrastTest, JsonRecordsTheContrastAndTheShaping) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  const auto j = run_json(explain_args(tmp, image, " red"),
                          {"--contrast", " blue", "--postprocess", "square", "--normalize"}, tmp);
  EXPECT_EQ(j["params"]["target_granularity"], "complete");
  EXPECT_EQ(j["params"]["postprocess"], "square");
  EXPECT_EQ(j["params"]["normalize"], true);
  EXPECT_EQ(j["contrast"]["text"], " blue");
  ASSERT_EQ(j["contrast"]["tokens"].size(), 1u);
  EXPECT_EQ(j["contrast"]["tokens"][0]["piece"], "\xe2\x96\x81" "blue");
  // Shaped by hand from the raw values: R = raw_per_target - raw_per_contrast, squared, to [0, 1].
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& p : j["positions"]) {
    EXPECT_NE(p["kind"], "target");
    const double raw = p["raw_per_target"][0].get<double>() - p["raw_per_contrast"][0].get<double>();
    EXPECT_NEAR(p["raw_relevance"].get<double>(), raw, 1e-12);
    lo = std::min(lo, raw * raw);
    hi = std::max(hi, raw * raw);
  }
  ASSERT_GT(hi, lo);
  for (const auto& p : j["positions"]) {
    const double raw = p["raw_relevance"].get<double>();
    EXPECT_NEAR(p["relevance"].get<double>(), (raw * raw - lo) / (hi - lo), 1e-12);
  }
  ASSERT_EQ(j["explanations"].size(), 1u);
  EXPECT_EQ(j["explanations"][0]["target_tokens"], nlohmann::json::array({0}));
}

TEST(E2eContrastTest, ImageRectanglesFollowThePatchGrid) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  const auto j = run_json(explain_args(tmp, image, " red circle"), {"--target-granularity", "token"}, tmp);
  EXPECT_EQ(j["params"]["target_granularity"], "token");
  EXPECT_EQ(j["params"]["normalize"], false);
  EXPECT_FALSE(j["positions"][0].contains("raw_relevance"));  // nothing shaped
  ASSERT_EQ(j["targets"].size(), 2u);
  ASSERT_EQ(j["explanations"].size(), 2u);  // one map per target token
  const auto& positions = j["positions"];
  for (size_t t = 0; t < 2; ++t) {
    const auto& map = j["explanations"][t];
    EXPECT_EQ(map["target_tokens"], nlohmann::json::array({t}));
    ASSERT_EQ(map["scores"].size(), positions.size());
    for (size_t i = 0; i < positions.size(); ++i) EXPECT_EQ(map["scores"][i], positions[i]["per_target"][t]);
    // The stretched 12 x 12 grid over 150 x 120 pixels: cell edges floor(c * 150 / 12) and floor(r * 120 / 12).
    ASSERT_EQ(map["image"].size(), 144u);
    for (size_t k = 0; k < 144; ++k) {
      const int r = static_cast<int>(k / 12), c = static_cast<int>(k % 12);
      const auto& rect = map["image"][k]["rect"];
      const int x0 = c * kWidth / 12, x1 = (c + 1) * kWidth / 12;
      EXPECT_DOUBLE_EQ(rect["left"].get<double>(), static_cast<double>(x0) / kWidth);
      EXPECT_DOUBLE_EQ(rect["width"].get<double>(), static_cast<double>(x1 - x0) / kWidth);
      EXPECT_DOUBLE_EQ(rect["top"].get<double>(), static_cast<double>(r * 10) / kHeight);
      EXPECT_DOUBLE_EQ(rect["height"].get<double>(), 10.0 / kHeight);
      EXPECT_EQ(positions[k]["patch"], nlohmann::json::array({r, c}));
      EXPECT_EQ(map["image"][k]["score"], positions[k]["per_target"][t]);
    }
  }
}

TEST(E2eContrastTest, BadValuesGetOneLine) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  struct Case {
    std::vector<std::string> extra;
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--postprocess", "cube"}, 2, "--postprocess: cube not in {none,absolute,square}"},
      {{"--target-granularity", "word"}, 2, "--target-granularity: word not in {complete,token}"},
      {{"--contrast", ""}, 1, "contrast is empty"},
      {{"--contrast", "  "}, 1, "contrast is only whitespace"},
      {{"--contrast", " red"}, 1, "the contrast \" red\" is the target \" red\" in tokens: nothing to contrast"},
      {{"--contrast", " blue", "--method", "ixg"}, 2, "--contrast is AtMan's: it takes no --method ixg"},
      {{"--contrast", " blue", "--target-granularity", "token"}, 2, "--target-granularity token does not apply"},
      {{"--contrast", " blue", "--processes", "2"}, 2, "--contrast does not shard over ranks"},
      {{"--contrast", " blue", "--image-search", "coarse-to-fine"}, 2, "--image-search coarse-to-fine does not apply"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = explain_args(tmp, image, " red");
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    SCOPED_TRACE(c.message);
    const RunResult r = run_atman(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    const auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("atman: error: ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(c.message), std::string::npos) << lines[0];
    EXPECT_FALSE(std::filesystem::exists(tmp.path("out.json")));
  }
  // Under torchrun's environment as well, before any rank joins a group.
  std::vector<std::string> args = explain_args(tmp, image, " red");
  args.insert(args.end(), {"--contrast", " blue"});
  const RunResult r = testing::run_atman_with("env RANK=0 WORLD_SIZE=2", args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--contrast does not shard over ranks"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace atman
