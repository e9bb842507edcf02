// End-to-end tests: the real `atman` binary, its output files and its error lines.
#include <filesystem>
#include <cctype>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::bad_model;
using testing::read_file;
using testing::run_atman;
using testing::RunResult;
using testing::TempDir;
using testing::test_model;

const char kQuestion[] = "What color is the circle?";

std::string write_test_image(const TempDir& tmp, const std::string& name = "shapes.png") {
  cv::Mat bgr(120, 150, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(bgr, cv::Point(45, 50), 22, cv::Scalar(40, 40, 220), cv::FILLED);
  cv::rectangle(bgr, cv::Rect(90, 60, 40, 40), cv::Scalar(60, 180, 40), cv::FILLED);
  const std::string path = tmp.path(name);
  EXPECT_TRUE(cv::imwrite(path, bgr));
  return path;
}

// Checks that every non-void element is closed in order (enough to catch a
// truncated or malformed page). A plain scanner: std::regex overflows the
// stack on the page's base64 image.
void expect_balanced_html(const std::string& html) {
  ASSERT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u) << html.substr(0, 60);
  static const std::set<std::string> kVoid = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                              "link", "meta", "source", "track", "wbr"};
  std::vector<std::string> open;
  size_t at = html.find('>') + 1;
  while ((at = html.find('<', at)) != std::string::npos) {
    if (html.compare(at, 4, "<!--") == 0) {
      at = html.find("-->", at);
      ASSERT_NE(at, std::string::npos) << "unclosed comment";
      continue;
    }
    const size_t close = html.find('>', at);
    ASSERT_NE(close, std::string::npos) << "unclosed tag at " << at;
    const bool closing = html[at + 1] == '/';
    size_t name_end = at + 1 + closing;
    while (name_end < close && std::isalnum(static_cast<unsigned char>(html[name_end]))) ++name_end;
    std::string name = html.substr(at + 1 + closing, name_end - at - 1 - closing);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    at = close + 1;
    if (name.empty() || kVoid.count(name) || html[close - 1] == '/') continue;
    if (closing) {
      ASSERT_FALSE(open.empty()) << "closing </" << name << "> without an open element";
      ASSERT_EQ(open.back(), name) << "mismatched </" << name << ">";
      open.pop_back();
    } else {
      open.push_back(name);
      if (name == "style" || name == "script") {  // raw text up to the end tag
        at = html.find("</" + name, at);
        ASSERT_NE(at, std::string::npos) << "unclosed <" << name << ">";
      }
    }
  }
  EXPECT_TRUE(open.empty()) << open.size() << " unclosed, first " << (open.empty() ? "" : open.front());
}

void expect_valid_explanation_json(const nlohmann::json& j, bool with_image) {
  for (const char* key : {"model", "prompt", "target", "params", "image_grid", "targets", "positions"}) {
    ASSERT_TRUE(j.contains(key)) << key;
  }
  ASSERT_TRUE(j["params"]["suppression_factor"].is_number());
  ASSERT_TRUE(j["params"].contains("conceptual_threshold"));
  ASSERT_FALSE(j["targets"].empty());
  for (const auto& t : j["targets"]) {
    EXPECT_TRUE(t["id"].is_number_integer());
    EXPECT_TRUE(t["piece"].is_string());
    EXPECT_TRUE(t["ce"].is_number());
  }
  const size_t n_targets = j["targets"].size();
  int64_t last = -1;
  size_t images = 0;
  for (const auto& p : j["positions"]) {
    EXPECT_GT(p["index"].get<int64_t>(), last);
    last = p["index"].get<int64_t>();
    const std::string kind = p["kind"];
    EXPECT_TRUE(kind == "image" || kind == "text" || kind == "target") << kind;
    if (kind == "image") {
      ++images;
      EXPECT_EQ(p["patch"].size(), 2u);
    } else {
      EXPECT_TRUE(p["piece"].is_string());
    }
    EXPECT_TRUE(p["relevance"].is_number());
    EXPECT_EQ(p["per_target"].size(), n_targets);
  }
  if (with_image) {
    ASSERT_EQ(j["image_grid"].size(), 2u);
    EXPECT_EQ(images, j["image_grid"][0].get<size_t>() * j["image_grid"][1].get<size_t>());
  } else {
    EXPECT_TRUE(j["image_grid"].is_null());
    EXPECT_EQ(images, 0u);
  }
}

TEST(E2eTest, ExplainWritesJsonOverlayHtmlAndSummary) {
  TempDir tmp;
  const std::string image = write_test_image(tmp);
  const RunResult r = run_atman({"explain", "--model", test_model("image_text.pt"), "--image", image, "--question",
                                 kQuestion, "--target", " red", "--json", tmp.path("out.json"), "--overlay",
                                 tmp.path("overlay.png"), "--html", tmp.path("report.html")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");  // no progress bar when stderr is not a terminal
  EXPECT_NE(r.out.find("overlay: " + tmp.path("overlay.png")), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("\033["), std::string::npos) << "ANSI colours on a non-terminal";

  const auto j = nlohmann::json::parse(read_file(tmp.path("out.json")));
  expect_valid_explanation_json(j, true);
  EXPECT_EQ(j["prompt"], "Question: What color is the circle? Answer:");
  EXPECT_EQ(j["image_grid"], nlohmann::json::array({12, 12}));

  const cv::Mat overlay = cv::imread(tmp.path("overlay.png"), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(overlay.empty());
  EXPECT_GT(overlay.cols, 150);  // the image at its resolution, the colour bar beside it
  EXPECT_GT(overlay.rows, 120);  // and the caption below
  EXPECT_EQ(overlay.channels(), 3);

  const std::string html = read_file(tmp.path("report.html"));
  expect_balanced_html(html);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);

  // No temporary siblings left behind.
  for (const auto& entry : std::filesystem::directory_iterator(tmp.dir())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST(E2eTest, TextOnlyModelWithWordGranularity) {
  TempDir tmp;
  const RunResult r = run_atman({"explain", "--model", test_model("text_only.pt"), "--prompt",
                                 "Alice lives in Paris. Bob likes tea. Where does Alice live?", "--target",
                                 " Paris", "--granularity", "word", "--conceptual-threshold", "off", "--json",
                                 tmp.path("t.json"), "--html", tmp.path("t.html"), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");  // --quiet
  const auto j = nlohmann::json::parse(read_file(tmp.path("t.json")));
  expect_valid_explanation_json(j, false);
  EXPECT_TRUE(j["params"]["conceptual_threshold"].is_null());
  EXPECT_EQ(j["params"]["granularity"], "word");
  bool multi = false;
  for (const auto& p : j["positions"]) multi |= p["members"].size() > 1;
  EXPECT_TRUE(multi);
  expect_balanced_html(read_file(tmp.path("t.html")));
}

TEST(E2eTest, HelpAndVersion) {
  RunResult r = run_atman({"explain", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--suppression-factor"), std::string::npos);
  EXPECT_NE(r.out.find("0.1"), std::string::npos);  // defaults are printed
  r = run_atman({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("explain"), std::string::npos);
}

// --- error paths: one line on stderr, exit 1 (2 for usage), no output file ----

struct ErrorCase {
  std::string name;
  std::vector<std::string> args;  // after "explain"
  int exit_code;
  std::string message;  // must appear in the single stderr line
};

void expect_error_run(const ErrorCase& c, const std::string& json_path) {
  SCOPED_TRACE(c.name);
  std::vector<std::string> args = {"explain"};
  args.insert(args.end(), c.args.begin(), c.args.end());
  const RunResult r = run_atman(args);
  EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("atman: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(c.message), std::string::npos) << lines[0] << "\nexpected: " << c.message;
  EXPECT_FALSE(std::filesystem::exists(json_path)) << "output written despite the error";
}

TEST(E2eErrorTest, BadModels) {
  TempDir tmp;
  const std::string json = tmp.path("out.json");
  auto run = [&](const std::string& model) {
    return std::vector<std::string>{"--model", model, "--prompt", "hello there", "--target", " x", "--json", json};
  };
  const std::vector<ErrorCase> cases = {
      {"missing", run(tmp.path("none.pt")), 1, tmp.path("none.pt") + ": model file not found"},
      {"corrupt", run(bad_model("random_bytes.pt")), 1, "random_bytes.pt: not a TorchScript model"},
      {"zip", run(bad_model("zip_not_torchscript.pt")), 1, "zip_not_torchscript.pt: not a TorchScript model"},
      {"non-contract", run(bad_model("not_contract.pt")), 1,
       "not_contract.pt: not an explainable model: it has no method embed_text(ids)"},
      {"no extra files", run(bad_model("no_extra_files.pt")), 1,
       "no_extra_files.pt: not an explainable model: the extra file atman/config.json is missing"},
      {"wrong config type", run(bad_model("config_wrong_type.pt")), 1,
       "config_wrong_type.pt: atman/config.json: \"hidden_size\" must be an integer, got \"16\""},
      {"NaN", run(bad_model("nan_logits.pt")), 1, "nan_logits.pt: model bad-model produced NaN or Inf logits"},
      {"wrong output shape", run(bad_model("wrong_vocab.pt")), 1, "wrong_vocab.pt: method forward returned float32"},
  };
  for (const auto& c : cases) expect_error_run(c, json);
}

TEST(E2eErrorTest, BadImages) {
  TempDir tmp;
  const std::string json = tmp.path("out.json");
  const std::string good = write_test_image(tmp);
  testing::write_file(tmp.path("empty.png"), "");
  testing::write_file(tmp.path("notes.png"), "just some text, not pixels");
  const std::string png = read_file(good);
  testing::write_file(tmp.path("cut.png"), png.substr(0, png.size() / 2));
  cv::imwrite(tmp.path("photo.jpg"), cv::imread(good));
  const std::string jpg = read_file(tmp.path("photo.jpg"));
  testing::write_file(tmp.path("cut.jpg"), jpg.substr(0, jpg.size() * 2 / 3));
  auto run = [&](const std::string& model, const std::string& image) {
    return std::vector<std::string>{"--model", test_model(model), "--image", image, "--question", kQuestion,
                                    "--target", " red", "--json", json};
  };
  const std::vector<ErrorCase> cases = {
      {"missing", run("image_text.pt", tmp.path("none.png")), 1, tmp.path("none.png") + ": image file not found"},
      {"empty", run("image_text.pt", tmp.path("empty.png")), 1, tmp.path("empty.png") + ": image file is empty"},
      {"non-image", run("image_text.pt", tmp.path("notes.png")), 1,
       tmp.path("notes.png") + ": not an image OpenCV can decode"},
      {"truncated png", run("image_text.pt", tmp.path("cut.png")), 1,
       tmp.path("cut.png") + ": image file is truncated"},
      {"truncated jpeg", run("image_text.pt", tmp.path("cut.jpg")), 1,
       tmp.path("cut.jpg") + ": image file is truncated"},
      {"text-only model", run("text_only.pt", good), 1,
       "model test-text-only is text-only (config image is null): it takes no --image"},
  };
  for (const auto& c : cases) expect_error_run(c, json);
}

TEST(E2eErrorTest, BadTextAndLengths) {
  TempDir tmp;
  const std::string json = tmp.path("out.json");
  auto run = [&](const std::string& prompt, const std::string& target) {
    return std::vector<std::string>{"--model", test_model("text_only.pt"), "--prompt", prompt, "--target", target,
                                    "--json", json};
  };
  const std::vector<ErrorCase> cases = {
      {"empty prompt", run("", " x"), 1, "prompt is empty"},
      {"blank prompt", run("  ", " x"), 1, "prompt is only whitespace"},
      {"non-UTF-8 prompt", run("caf\xe9 au lait", " x"), 1, "prompt is not valid UTF-8 (byte 0xe9 at offset 3)"},
      {"empty target", run("hello", ""), 1, "target is empty"},
      {"non-UTF-8 target", run("hello", " \xc3("), 1, "target is not valid UTF-8"},
      {"too long", run(std::string(3000, 'z'), " x"), 1, "exceeds the model's max_positions 256"},
  };
  for (const auto& c : cases) expect_error_run(c, json);
  // Too long with the image prefix counted.
  const std::string image = write_test_image(tmp);
  expect_error_run({"too long with image",
                    {"--model", test_model("image_text.pt"), "--image", image, "--prompt", std::string(300, 'q'),
                     "--target", " x", "--json", json},
                    1, "(144 image + "},
                   json);
}

TEST(E2eErrorTest, UnwritableOutputsFailBeforeTheSweep) {
  TempDir tmp;
  const std::string json = tmp.path("out.json");
  const std::string image = write_test_image(tmp);
  auto run = [&](const std::string& flag, const std::string& path) {
    return std::vector<std::string>{"--model", test_model("image_text.pt"), "--image", image, "--question",
                                    kQuestion, "--target", " red", flag, path, "--json", json};
  };
  const std::vector<ErrorCase> cases = {
      {"missing folder", run("--overlay", tmp.path("no/such/dir/o.png")), 1,
       "cannot write overlay: " + tmp.path("no/such/dir/o.png")},
      {"folder is a file", run("--html", image + "/r.html"), 1, "cannot write html: " + image + "/r.html"},
      {"path is a folder", run("--overlay", tmp.dir().string()), 1, "cannot write overlay: " + tmp.dir().string()},
  };
  for (const auto& c : cases) expect_error_run(c, json);
  expect_error_run({"json folder missing",
                    {"--model", test_model("text_only.pt"), "--prompt", "hi", "--target", " x", "--json",
                     tmp.path("nope/out.json")},
                    1, "cannot write json: " + tmp.path("nope/out.json")},
                   tmp.path("nope/out.json"));
}

TEST(E2eErrorTest, UsageErrorsExitTwo) {
  TempDir tmp;
  const std::string json = tmp.path("out.json");
  const std::string model = test_model("text_only.pt");
  const std::vector<ErrorCase> cases = {
      {"no target", {"--model", model, "--prompt", "hi", "--json", json}, 2, "--target is required"},
      {"no model", {"--prompt", "hi", "--target", " x", "--json", json}, 2, "--model is required"},
      {"neither question nor prompt", {"--model", model, "--target", " x", "--json", json}, 2,
       "give exactly one of --question and --prompt"},
      {"both", {"--model", model, "--question", "a", "--prompt", "b", "--target", " x", "--json", json}, 2,
       "excludes"},
      {"threshold", {"--model", model, "--prompt", "hi", "--target", " x", "--conceptual-threshold", "high",
                     "--json", json}, 2, "--conceptual-threshold must be a number in [-1, 1] or off, got \"high\""},
      {"factor NaN", {"--model", model, "--prompt", "hi", "--target", " x", "--suppression-factor", "nan",
                      "--json", json}, 2, "--suppression-factor must be a finite number in [0, 1000], got nan"},
      {"factor negative", {"--model", model, "--prompt", "hi", "--target", " x", "--suppression-factor", "-1",
                           "--json", json}, 2, "--suppression-factor must be a finite number in [0, 1000], got -1"},
      {"batch negative", {"--model", model, "--prompt", "hi", "--target", " x", "--batch-size", "-3",
                          "--json", json}, 2, "--batch-size must be in [0, 65536], got -3"},
      {"granularity", {"--model", model, "--prompt", "hi", "--target", " x", "--granularity", "letter",
                       "--json", json}, 2, "--granularity"},
      {"overlay without image", {"--model", model, "--prompt", "hi", "--target", " x", "--overlay",
                                 tmp.path("o.png"), "--json", json}, 2, "--overlay needs --image"},
      {"unknown flag", {"--model", model, "--prompt", "hi", "--target", " x", "--frobnicate", "--json", json}, 2,
       "frobnicate"},
      {"alpha above 1", {"--model", model, "--prompt", "hi", "--target", " x", "--overlay-alpha", "1.5", "--json",
                         json}, 2, "--overlay-alpha must be a number in [0, 1], got 1.5"},
      {"alpha NaN", {"--model", model, "--prompt", "hi", "--target", " x", "--overlay-alpha", "nan", "--json", json},
       2, "--overlay-alpha must be a number in [0, 1], got nan"},
      {"percentile 0", {"--model", model, "--prompt", "hi", "--target", " x", "--clip-percentile", "0", "--json",
                        json}, 2, "--clip-percentile must be a number in (0, 100], got 0"},
      {"percentile above 100", {"--model", model, "--prompt", "hi", "--target", " x", "--clip-percentile", "100.5",
                                "--json", json}, 2, "--clip-percentile must be a number in (0, 100], got 100.5"},
      {"unknown colour map", {"--model", model, "--prompt", "hi", "--target", " x", "--colormap", "rainbow", "--json",
                              json}, 2,
       "--colormap: unknown colour map 'rainbow' (expected one of auto, viridis, inferno, turbo, diverging)"},
  };
  for (const auto& c : cases) expect_error_run(c, json);
}

}  // namespace
}  // namespace atman
