// Held-out sets and ground truth in sequence positions of `atman eval`.
#include "eval/eval_data.h"

#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::TempDir;
using testing::test_model;
using testing::write_file;

// A 10 x 10 mask split 4 x 4: numpy's linspace(0, 10, 5) = 0 2.5 5 7.5 10
// rounds half to even: edges 0 2 5 8 10 (round-half-up would give 0 3 5 8 10,
// floor 0 2 5 7 10). Column x = 2 alone tells them apart: patch column 1
// ([2, 5)) is 1/3 covered, column 0 ([0, 2)) not at all.
TEST(EvalDataTest, PatchCoverageUsesNumpyRounding) {
  cv::Mat mask = cv::Mat::zeros(10, 10, CV_8UC1);
  mask.col(2).setTo(255);
  const std::vector<double> c = mask_patch_coverage(mask, 4, 4);
  ASSERT_EQ(c.size(), 16u);
  for (int r = 0; r < 4; ++r) {
    EXPECT_DOUBLE_EQ(c[r * 4 + 0], 0.0) << r;
    EXPECT_NEAR(c[r * 4 + 1], 1.0 / 3.0, 1e-12) << r;
    EXPECT_DOUBLE_EQ(c[r * 4 + 2], 0.0) << r;
  }
  // Rows 8 and 9 ([8, 10)) form patch row 3: a mask on row 7 only is in patch row 2 ([5, 8)).
  cv::Mat row7 = cv::Mat::zeros(10, 10, CV_8UC1);
  row7.row(7).setTo(1);
  const std::vector<double> d = mask_patch_coverage(row7, 4, 4);
  EXPECT_NEAR(d[2 * 4 + 0], 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(d[3 * 4 + 0], 0.0);
}

TEST(EvalDataTest, ImageGroundTruthThreshold) {
  auto model = Model::load(test_model("image_text.pt"));  // 96 x 96, grid 12 x 12: 8 px patches
  const Sequence seq = build_sequence(*model, "What?", " red", 144);
  cv::Mat mask = cv::Mat::zeros(96, 96, CV_8UC1);
  mask(cv::Rect(0, 0, 8, 2)).setTo(255);  // patch (0, 0): 16/64 = 25% -> in
  mask(cv::Rect(8, 0, 8, 1)).setTo(255);  // patch (0, 1): 8/64 < 25% -> out
  mask(cv::Rect(88, 88, 8, 8)).setTo(255);  // patch (11, 11): 100%
  const GroundTruth gt = image_ground_truth(mask, seq);
  ASSERT_EQ(gt.positions.size(), 144u);
  EXPECT_EQ(gt.positions[143], 143);
  EXPECT_EQ(gt.truth[0], 1);
  EXPECT_EQ(gt.truth[1], 0);
  EXPECT_EQ(gt.truth[143], 1);
  EXPECT_EQ(std::count(gt.truth.begin(), gt.truth.end(), 1), 2);
}

// The evidence sentence "Umar likes soup." (characters [22, 38)) of a
// Facts-QA prompt: its tokens, not the "." before it nor "\u2581Dora" after.
TEST(EvalDataTest, TextGroundTruthFromCharacterSpan) {
  auto model = Model::load(test_model("text_only.pt"));
  const std::string prompt =
      "Amir lives in Zurich. Umar likes soup. Dora works as a farmer. Question: What does Umar like? Answer:";
  const Sequence seq = build_sequence(*model, prompt, " soup", 0);
  const GroundTruth gt = text_ground_truth(model->tokenizer(), seq, 22, 38);
  ASSERT_EQ(gt.positions.size() + 1, seq.prompt_ids.size());  // every prompt token but BOS
  EXPECT_EQ(gt.positions.front(), 1);
  std::string evidence, rest;
  for (size_t k = 0; k < gt.positions.size(); ++k) {
    (gt.truth[k] ? evidence : rest) += seq.piece_at(gt.positions[k]);
  }
  EXPECT_EQ(evidence, "\u2581Umar\u2581likes\u2581soup.") << evidence;
  EXPECT_EQ(rest.find("\u2581likes\u2581soup"), std::string::npos) << rest;
  EXPECT_EQ(rest.rfind("\u2581Amir", 0), 0u);
  expect_error([&] { text_ground_truth(model->tokenizer(), seq, 90, 500); }, {"evidence span [90, 500)", "characters"});
}

// Spans count Unicode characters (as Python does), not bytes.
TEST(EvalDataTest, TextGroundTruthCountsCharacters) {
  auto model = Model::load(test_model("text_only.pt"));
  const std::string prompt = "Zo\u00eb lives in K\u00f6ln. Umar likes soup. Question: What does Umar like? Answer:";
  // "Zoë lives in Köln. " is 19 characters (21 bytes): the evidence is [19, 35).
  const Sequence seq = build_sequence(*model, prompt, " soup", 0);
  const GroundTruth gt = text_ground_truth(model->tokenizer(), seq, 19, 35);
  std::string evidence;
  for (size_t k = 0; k < gt.positions.size(); ++k) {
    if (gt.truth[k]) evidence += seq.piece_at(gt.positions[k]);
  }
  EXPECT_EQ(evidence, "\u2581Umar\u2581likes\u2581soup.") << evidence;
}

TEST(EvalDataTest, LoadSetsAndBadItems) {
  TempDir tmp;
  std::filesystem::create_directories(tmp.path("sets/b_text"));
  std::filesystem::create_directories(tmp.path("sets/a_image"));
  write_file(tmp.path("sets/b_text/items.jsonl"),
             "{\"id\": \"t1\", \"task\": \"facts_qa\", \"prompt\": \"A likes b. Answer:\", \"target\": \" b\", "
             "\"evidence_span\": [0, 10]}\n\n");
  write_file(tmp.path("sets/a_image/items.jsonl"),
             "{\"id\": \"i1\", \"image\": \"x.png\", \"mask\": \"m.png\", \"question\": \"What?\", \"target\": \" red\"}\n");
  const auto sets = load_eval_sets(tmp.path("sets"));
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].task, "a_image");  // folder name when items have no task
  EXPECT_EQ(sets[0].items[0].kind, EvalItemKind::kImageMask);
  EXPECT_EQ(sets[0].items[0].image_path, tmp.path("sets/a_image/x.png"));
  EXPECT_EQ(sets[1].task, "facts_qa");
  EXPECT_EQ(sets[1].items[0].span_end, 10);
  EXPECT_EQ(load_eval_sets(tmp.path("sets/b_text")).size(), 1u);

  write_file(tmp.path("sets/b_text/items.jsonl"), "{\"prompt\": \"x\", \"target\": \" b\", \"evidence_span\": [5, 2]}\n");
  expect_error([&] { load_eval_sets(tmp.path("sets/b_text")); }, {"items.jsonl:1:", "evidence_span", "[5,2]"});
  write_file(tmp.path("sets/b_text/items.jsonl"), "{\"prompt\": \"x\"}\n");
  expect_error([&] { load_eval_sets(tmp.path("sets/b_text")); }, {"items.jsonl:1:", "\"target\" must be a string"});
  write_file(tmp.path("sets/b_text/items.jsonl"), "{\"target\": \" x\"}\nnot json\n");
  expect_error([&] { load_eval_sets(tmp.path("sets/b_text")); }, {"items.jsonl:1:", "needs \"image\" and \"mask\""});
  std::filesystem::create_directories(tmp.path("empty"));
  expect_error([&] { load_eval_sets(tmp.path("empty")); }, {"no items.jsonl in it or in its subfolders"});
  expect_error([&] { load_eval_sets(tmp.path("nope")); }, {"nope: not a folder of evaluation data"});
}

}  // namespace
}  // namespace atman
