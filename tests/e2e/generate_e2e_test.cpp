// End-to-end tests of `atman generate` (docs/steering.md): the real binary,
// its two lines, its JSON and its error lines.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::read_file;
using testing::run_atman;
using testing::RunResult;
using testing::TempDir;
using testing::test_model;

const char kFacts[] = "Alice lives in Paris. Bob works as a baker. Alice likes apples.";

std::string write_image(const TempDir& tmp) {
  cv::Mat bgr(120, 150, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(bgr, cv::Point(45, 50), 22, cv::Scalar(40, 40, 220), cv::FILLED);
  cv::rectangle(bgr, cv::Rect(90, 60, 40, 40), cv::Scalar(60, 180, 40), cv::FILLED);
  const std::string path = tmp.path("shapes.png");
  EXPECT_TRUE(cv::imwrite(path, bgr));
  return path;
}

std::string line_after(const std::string& out, const std::string& label) {
  const size_t at = out.find(label);
  if (at == std::string::npos) return "<missing " + label + ">";
  const size_t begin = at + label.size();
  return out.substr(begin, out.find('\n', begin) - begin);
}

void expect_error_line(const RunResult& r, int code, const std::string& line) {
  EXPECT_EQ(r.exit_code, code) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_EQ(r.err_lines()[0], line);
}

TEST(E2eGenerateTest, JsonHoldsBothContinuationsControlsAndPositions) {
  TempDir tmp;
  const std::string json = tmp.path("g.json");
  const RunResult r = run_atman({"generate", "--model", test_model("text_only.pt"), "--prompt", kFacts, "--suppress",
                                 "Alice", "--amplify", "Paris", "--max-tokens", "6", "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto j = nlohmann::json::parse(read_file(json));
  EXPECT_EQ(line_after(r.out, "steered:   "), j["steered"]["text"].get<std::string>());
  EXPECT_EQ(line_after(r.out, "unsteered: "), j["unsteered"]["text"].get<std::string>());
  EXPECT_NE(r.out.find("json: " + json), std::string::npos);
  ASSERT_EQ(j["controls"].size(), 2u);
  EXPECT_EQ(j["controls"][0]["kind"], "suppress");
  EXPECT_EQ(j["controls"][0]["span"], "Alice");
  EXPECT_EQ(j["controls"][0]["positions"].size() % 2, 0u);  // both occurrences, the same pieces each
  EXPECT_GE(j["controls"][0]["positions"].size(), 2u);
  EXPECT_EQ(j["controls"][1]["kind"], "amplify");
  EXPECT_EQ(j["params"]["decode_path"], "kv-cache");
  const auto& modifier = j["modifier"];
  ASSERT_EQ(modifier.size(), j["sequence_length"].get<size_t>());
  for (int64_t pos : j["controls"][0]["positions"]) EXPECT_NEAR(modifier[pos].get<double>(), 0.1, 1e-7);
  for (int64_t pos : j["controls"][1]["positions"]) EXPECT_NEAR(modifier[pos].get<double>(), 2.0, 1e-7);
  EXPECT_LE(j["steered"]["ids"].size(), 6u);
  EXPECT_EQ(j["steered"]["ids"].size(), j["steered"]["logprobs"].size());
}

TEST(E2eGenerateTest, EmptyControlsPrintAtmanAnswersAnswer) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  for (const std::string model : {"image_text.pt", "minimal.pt"}) {
    const RunResult answer =
        run_atman({"answer", "--model", test_model(model), "--image", image, "--question", "What color is the circle?"});
    const RunResult generate = run_atman({"generate", "--model", test_model(model), "--image", image, "--question",
                                          "What color is the circle?", "--max-tokens", "16"});
    ASSERT_EQ(answer.exit_code, 0) << answer.err;
    ASSERT_EQ(generate.exit_code, 0) << generate.err;
    EXPECT_EQ(line_after(generate.out, "steered:   ") + "\n", answer.out) << model;
    EXPECT_EQ(line_after(generate.out, "unsteered: ") + "\n", answer.out) << model;
  }
}

TEST(E2eGenerateTest, VerboseNamesTheDecodePath) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  const RunResult fallback = run_atman({"generate", "--model", test_model("minimal.pt"), "--image", image, "--question",
                                        "What color is the circle?", "--suppress", "image:0,0,5,5", "--max-tokens", "3",
                                        "--verbose"});
  ASSERT_EQ(fallback.exit_code, 0) << fallback.err;
  EXPECT_NE(fallback.err.find("atman: decoding: recompute (fallback: the model lacks step_from_cache/lm_head"),
            std::string::npos)
      << fallback.err;
  EXPECT_NE(fallback.err.find("atman: suppress \"image:0,0,5,5\": 36 position(s) 0-5,12-17,24-29,36-41,48-53,60-65"),
            std::string::npos)
      << fallback.err;
  const RunResult cached = run_atman({"generate", "--model", test_model("image_text.pt"), "--image", image,
                                      "--question", "What color is the circle?", "--max-tokens", "3", "--verbose"});
  EXPECT_NE(cached.err.find("atman: decoding: kv-cache (the model has step_from_cache and lm_head), greedy"),
            std::string::npos)
      << cached.err;
}

TEST(E2eGenerateTest, ErrorLines) {
  TempDir tmp;
  const std::string image = write_image(tmp);
  const std::string model = test_model("image_text.pt");
  const std::string usage = " (run with --help for usage)";
  auto gen = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"generate", "--model", model, "--image", image, "--question", "What color is it?"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_atman(args);
  };
  expect_error_line(gen({"--factor-suppress", "1"}), 2,
                    "atman: error: --factor-suppress must be a finite number in [0, 1), got 1" + usage);
  expect_error_line(gen({"--factor-suppress", "-0.5"}), 2,
                    "atman: error: --factor-suppress must be a finite number in [0, 1), got -0.5" + usage);
  expect_error_line(gen({"--factor-amplify", "1"}), 2,
                    "atman: error: --factor-amplify must be a finite number in (1, 1000], got 1" + usage);
  expect_error_line(gen({"--factor-amplify", "nan"}), 2,
                    "atman: error: --factor-amplify must be a finite number in (1, 1000], got nan" + usage);
  expect_error_line(gen({"--sample", "--temperature", "0"}), 2,
                    "atman: error: --temperature must be a finite number in (0, 100], got 0" + usage);
  expect_error_line(gen({"--seed", "3"}), 2, "atman: error: --temperature and --seed need --sample" + usage);
  expect_error_line(gen({"--conceptual-threshold", "2"}), 2,
                    "atman: error: --conceptual-threshold must be a number in [-1, 1] or off, got \"2\"" + usage);
  expect_error_line(gen({"--suppress", "image:0,0,12,3"}), 1,
                    "atman: error: span \"image:0,0,12,3\": needs 0 <= r0 <= r1 <= 11 and 0 <= c0 <= c1 <= 11 (the "
                    "12x12 patch grid, both ends inclusive)");
  expect_error_line(gen({"--amplify", "square"}), 1,
                    "atman: error: span \"square\": not found in the prompt as whole words (spans: text, text@k, image, "
                    "image:r0,c0,r1,c1, token:k, word:k, sentence:k)");
  expect_error_line(gen({"--suppress", "color@2"}), 1,
                    "atman: error: span \"color@2\": the prompt has 1 occurrence(s) of \"color\"");
  expect_error_line(gen({"--suppress", "image", "--amplify", "image:0,0,0,0"}), 1,
                    "atman: error: position 0 is both suppressed and amplified (spans \"image\" and \"image:0,0,0,0\")");
  expect_error_line(run_atman({"generate", "--model", test_model("text_only.pt"), "--prompt", kFacts, "--suppress", "image"}),
                    1, "atman: error: span \"image\": there is no image");
  expect_error_line(run_atman({"generate", "--model", model, "--prompt", "a", "--question", "b"}), 2,
                    "atman: error: --question excludes --prompt" + usage);
}

}  // namespace
}  // namespace atman
