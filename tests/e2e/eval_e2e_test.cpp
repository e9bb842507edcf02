// End-to-end tests of `atman eval` and `atman explain --method`: the real binary on the test models.
#include <filesystem>
#include <fstream>

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
using testing::write_file;

// A two-task held-out folder: 3 Shapes-VQA-like items (image + mask) and 3 Facts-QA-like items.
std::string write_sets(const TempDir& tmp) {
  namespace fs = std::filesystem;
  const fs::path root = tmp.path("heldout");
  fs::create_directories(root / "shapes_vqa" / "images");
  fs::create_directories(root / "shapes_vqa" / "masks");
  fs::create_directories(root / "facts_qa");
  std::string shapes;
  for (int i = 0; i < 3; ++i) {
    cv::Mat bgr(96, 96, CV_8UC3, cv::Scalar(120 + 10 * i, 120, 120));
    cv::Mat mask = cv::Mat::zeros(96, 96, CV_8UC1);
    const cv::Point centre(25 + 20 * i, 40);
    cv::circle(bgr, centre, 12, cv::Scalar(40, 40, 220), cv::FILLED);
    cv::circle(mask, centre, 12, cv::Scalar(255), cv::FILLED);
    cv::rectangle(bgr, cv::Rect(60, 60, 20, 20), cv::Scalar(60, 180, 40), cv::FILLED);
    const std::string name = "000" + std::to_string(i) + ".png";
    cv::imwrite((root / "shapes_vqa" / "images" / name).string(), bgr);
    cv::imwrite((root / "shapes_vqa" / "masks" / name).string(), mask);
    shapes += "{\"id\": \"shapes-" + std::to_string(i) + "\", \"task\": \"shapes_vqa\", \"image\": \"images/" + name +
              "\", \"mask\": \"masks/" + name + "\", \"question\": \"What color is the circle?\", \"target\": \" red\"}\n";
  }
  write_file((root / "shapes_vqa" / "items.jsonl").string(), shapes);
  const char* facts[] = {
      R"({"id": "facts-0", "task": "facts_qa", "prompt": "Amir lives in Zurich. Umar likes soup. Question: What does Umar like? Answer:", "target": " soup", "evidence_span": [22, 38]})",
      R"({"id": "facts-1", "task": "facts_qa", "prompt": "Nina works as a farmer. Vera lives in Lyon. Question: Where does Vera live? Answer:", "target": " Lyon", "evidence_span": [24, 43]})",
      R"({"id": "facts-2", "task": "facts_qa", "prompt": "Dora likes salad. Question: What does Dora like? Answer:", "target": " salad", "evidence_span": [0, 17]})",
  };
  write_file((root / "facts_qa" / "items.jsonl").string(),
             std::string(facts[0]) + "\n" + facts[1] + "\n" + facts[2] + "\n");
  return root.string();
}

int count_lines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += !line.empty();
  return n;
}

// The metric fields of summary.json (timings differ between runs).
nlohmann::json metric_fields(const std::string& path) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : nlohmann::json::parse(read_file(path))) {
    out.push_back({row["task"], row["method"], row["setting"], row["items"], row["precision"], row["recall"],
                   row["average_precision"], row["pointing"], row["accuracy"]});
  }
  return out;
}

TEST(E2eEvalTest, AllMethodsBothTasksAndResume) {
  TempDir tmp;
  const std::string data = write_sets(tmp);
  const std::string out = tmp.path("out");
  const std::vector<std::string> args = {"eval", "--model", test_model("image_text.pt"), "--data", data,
                                         "--out", out, "--ig-steps", "4", "--no-plots", "--examples", "1",
                                         "--methods", "atman,ixg,ig,rollout,chefer"};  // all: loo and attnlrp too
  RunResult r = run_atman(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* heading : {"### facts_qa (3 items", "### shapes_vqa (3 items"}) {
    EXPECT_NE(r.out.find(heading), std::string::npos) << r.out;
  }
  for (const char* method : {"| atman | f=0.1,kappa=0.6 |", "| ixg | - |", "| ig | steps=4 |", "| rollout | - |",
                             "| chefer | - |"}) {
    EXPECT_NE(r.out.find(method), std::string::npos) << method;
  }
  EXPECT_NE(r.out.find("summary: " + out + "/summary.md"), std::string::npos);
  EXPECT_EQ(count_lines(out + "/rows.jsonl"), 2 * 3 * 5);
  EXPECT_EQ(count_lines(out + "/rows.csv"), 1 + 2 * 3 * 5);
  EXPECT_EQ(read_file(out + "/rows.csv").rfind("task,item,index,method,setting,", 0), 0u);
  for (const char* f : {"summary.md", "summary.csv", "summary.json", "run.json", "examples/shapes_vqa/shapes-0.ig.png",
                        "examples/shapes_vqa/shapes-0.chefer.json", "examples/facts_qa/facts-0.atman.json"}) {
    EXPECT_TRUE(std::filesystem::exists(out + "/" + f)) << f;
  }
  // One page per example item switching between every method's map (eval/example_pages.h).
  const std::string page = read_file(out + "/examples/shapes_vqa/shapes-0.html");
  for (const char* method : {">AtMan: R", ">Input x Gradient: R", ">Integrated Gradients: R", ">Attention rollout: R",
                             ">Chefer et al.: R"}) {
    EXPECT_NE(page.find(method), std::string::npos) << method;
  }
  // Every row has metrics and the right number of evaluated positions.
  std::ifstream rows(out + "/rows.jsonl");
  std::string line;
  while (std::getline(rows, line)) {
    const auto row = nlohmann::json::parse(line);
    EXPECT_EQ(row["error"], "") << line;
    EXPECT_TRUE(row["precision"].is_number()) << line;
    if (row["task"] == "shapes_vqa") {
      EXPECT_EQ(row["positions"], 144);
    }
    EXPECT_GT(row["truth_positions"].get<int>(), 0);
    EXPECT_LT(row["truth_positions"].get<int>(), row["positions"].get<int>());
    EXPECT_GE(row["peak_mb"].get<double>(), 0.0);
  }
  const nlohmann::json first = metric_fields(out + "/summary.json");

  // A rerun computes nothing and gives the same summary.
  r = run_atman(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming: 30 of 30 rows"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(out + "/rows.jsonl"), 30);
  EXPECT_EQ(metric_fields(out + "/summary.json"), first);

  // A torn last line (a killed run) is dropped and its row computed again.
  std::string text = read_file(out + "/rows.jsonl");
  const size_t last = text.rfind('\n', text.size() - 2);
  write_file(out + "/rows.jsonl", text.substr(0, last + 1) + text.substr(last + 1, 40));
  r = run_atman(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("resuming: 29 of 30 rows"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(out + "/rows.jsonl"), 30);
  EXPECT_EQ(count_lines(out + "/rows.csv"), 31);
  EXPECT_EQ(metric_fields(out + "/summary.json"), first);

  // Another model's rows are not mixed in.
  r = run_atman({"eval", "--model", test_model("minimal.pt"), "--data", data, "--out", out, "--methods", "ixg",
                 "--no-plots"});
  EXPECT_EQ(r.exit_code, 1);
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("holds rows of another model (test-image-text"), std::string::npos) << r.err;
}

TEST(E2eEvalTest, SweepAndPerTaskLimit) {
  TempDir tmp;
  const std::string data = write_sets(tmp);
  const std::string out = tmp.path("out");
  RunResult r = run_atman({"eval", "--model", test_model("image_text.pt"), "--data", data, "--out", out, "--methods",
                           "atman", "--limit", "1,facts_qa=2", "--sweep", "suppression_factor=0,0.5", "--sweep",
                           "conceptual_threshold=off", "--no-plots", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* setting : {"| atman | f=0.1,kappa=0.6 |", "| atman | f=0,kappa=0.6 |", "| atman | f=0.5,kappa=0.6 |",
                              "| atman | f=0.1,kappa=off |"}) {
    EXPECT_NE(r.out.find(setting), std::string::npos) << setting << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("### facts_qa (2 items"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("### shapes_vqa (1 items"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(out + "/rows.jsonl"), (2 + 1) * 4);
}

TEST(E2eEvalTest, ErrorsGetOneLine) {
  TempDir tmp;
  const std::string data = write_sets(tmp);
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--model", test_model("minimal.pt"), "--methods", "atman,rollout,chefer"},
       1,
       "has no method forward_with_attentions(embeddings, modifier) (docs/optional_methods.md): rollout and chefer cannot run"},
      {{"--model", test_model("text_only.pt")}, 1, "is text-only (config image is null): it cannot run the image task shapes_vqa"},
      {{"--model", test_model("image_text.pt"), "--methods", "lime"}, 2, "--methods: method must be atman, ixg, ig"},
      {{"--model", test_model("image_text.pt"), "--sweep", "kappa=1"}, 2, "--sweep key must be suppression_factor"},
      {{"--model", test_model("image_text.pt"), "--limit", "x"}, 2, "--limit must be N or TASK=N"},
      {{"--model", test_model("image_text.pt"), "--ig-steps", "0"}, 2, "--ig-steps must be in [1, 100000], got 0"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"eval", "--data", data, "--out", tmp.path("o"), "--no-plots"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const RunResult r = run_atman(args);
    EXPECT_EQ(r.exit_code, c.code) << c.message << "\n" << r.err;
    ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_EQ(r.err.rfind("atman: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  const RunResult missing = run_atman({"eval", "--model", test_model("image_text.pt"), "--data", tmp.path("none"),
                                       "--out", tmp.path("o2")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("none: not a folder of evaluation data"), std::string::npos) << missing.err;
}

TEST(E2eExplainMethodTest, WritesEveryOutputForEveryMethod) {
  TempDir tmp;
  cv::Mat bgr(96, 96, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(bgr, cv::Point(30, 30), 14, cv::Scalar(40, 40, 220), cv::FILLED);
  const std::string image = tmp.path("scene.png");
  cv::imwrite(image, bgr);
  for (const std::string method : {"atman", "ixg", "ig", "rollout", "chefer"}) {
    SCOPED_TRACE(method);
    const std::string json = tmp.path(method + ".json");
    const RunResult r = run_atman({"explain", "--model", test_model("image_text.pt"), "--image", image, "--question",
                                   "What color is the circle?", "--target", " red", "--method", method, "--ig-steps",
                                   "4", "--json", json, "--overlay", tmp.path(method + ".png"), "--html",
                                   tmp.path(method + ".html")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto j = nlohmann::json::parse(read_file(json));
    EXPECT_EQ(j["method"], method);
    EXPECT_EQ(j["params"].contains("ig_steps"), method == "ig");
    EXPECT_FALSE(cv::imread(tmp.path(method + ".png")).empty());
    const std::string html = read_file(tmp.path(method + ".html"));
    EXPECT_NE(html.find(method == "atman" ? "<h1>AtMan explanation" : "explanation</h1>"), std::string::npos);
    EXPECT_NE(r.out.find("Top 10 of"), std::string::npos) << r.out;
  }
  const RunResult bad = run_atman({"explain", "--model", test_model("image_text.pt"), "--prompt", "x", "--target",
                                   " y", "--method", "saliency"});
  EXPECT_EQ(bad.exit_code, 2);
  const RunResult refused = run_atman({"explain", "--model", test_model("minimal.pt"), "--prompt", "What?", "--target",
                                       " red", "--method", "chefer"});
  EXPECT_EQ(refused.exit_code, 1);
  ASSERT_EQ(refused.err_lines().size(), 1u) << refused.err;
  EXPECT_NE(refused.err.find("has no method forward_with_attentions"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace atman
