// Contrastive explanations (core/contrast.h) against the difference of two
// separate explanations, one of the target and one of the contrast, on the
// same prompt units: both the one-sweep path (the same input sequence) and
// the two-sweep path (answers of different lengths).

#include "atman/core/contrast.h"

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

constexpr char kPrompt[] = "Question: What color is the circle? Answer:";

cv::Mat test_image() {
  cv::Mat rgb(80, 100, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::circle(rgb, cv::Point(30, 30), 15, cv::Scalar(220, 40, 40), cv::FILLED);
  return rgb;
}

double sum(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s;
}

class ContrastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = Model::load(testing::test_model("image_text.pt"));
    explainer_ = std::make_unique<Explainer>(model_);
    options_.batch_size = 16;
  }

  Explanation separate(const std::string& answer) const {
    return explainer_->explain({kPrompt, answer, test_image()}, options_);
  }

  Explanation contrastive(const std::string& target, const std::string& contrast, ExplainOptions options) const {
    ExplainInput input{kPrompt, target, test_image()};
    input.contrast = contrast;
    return explainer_->explain(input, options);
  }

  // e's units must be the prompt's units of the separate explanations (their
  // target units left out), with R = R_target - R_contrast summed over each
  // answer's tokens, per_target the target's and per_contrast the contrast's.
  void expect_difference(const Explanation& e, const std::string& target, const std::string& contrast) const {
    const Explanation a = separate(target);
    const Explanation b = separate(contrast);
    ASSERT_TRUE(e.contrast.has_value());
    EXPECT_EQ(e.contrast->text, contrast);
    ASSERT_EQ(e.contrast->tokens.size(), b.targets.size());
    ASSERT_EQ(e.targets.size(), a.targets.size());
    for (size_t c = 0; c < b.targets.size(); ++c) {
      EXPECT_EQ(e.contrast->tokens[c].id, b.targets[c].id);
      // The contrast's clean pass may share its batch with the target's: summation order differs (issue 28).
      EXPECT_NEAR(e.contrast->tokens[c].ce, b.targets[c].ce, testing::float32_reorder_tolerance(b.targets[c].ce));
    }
    size_t prompt_units = 0;
    for (const ExplainedUnit& u : a.units) prompt_units += u.kind != PositionKind::kTarget;
    ASSERT_EQ(e.units.size(), prompt_units);
    double scale = 0.0;
    for (size_t g = 0; g < e.units.size(); ++g) scale = std::max(scale, std::abs(a.units[g].relevance));
    ASSERT_GT(scale, 1e-4);
    for (size_t g = 0; g < e.units.size(); ++g) {
      const ExplainedUnit& u = e.units[g];
      EXPECT_NE(u.kind, PositionKind::kTarget);
      EXPECT_EQ(u.members, a.units[g].members);
      EXPECT_EQ(u.members, b.units[g].members);
      const double want = sum(a.units[g].per_target) - sum(b.units[g].per_target);
      EXPECT_NEAR(u.relevance, want, 1e-5 * scale) << "unit " << g;
      ASSERT_EQ(u.per_target.size(), a.targets.size());
      ASSERT_EQ(u.per_contrast.size(), b.targets.size());
      for (size_t t = 0; t < u.per_target.size(); ++t) EXPECT_NEAR(u.per_target[t], a.units[g].per_target[t], 1e-5 * scale);
      for (size_t c = 0; c < u.per_contrast.size(); ++c) {
        EXPECT_NEAR(u.per_contrast[c], b.units[g].per_target[c], 1e-5 * scale);
      }
    }
  }

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Explainer> explainer_;
  ExplainOptions options_;
};

TEST_F(ContrastTest, OneTokenAnswersShareOneSweep) {
  std::vector<SweepProgress> reports;
  ExplainInput input{kPrompt, " red", test_image()};
  input.contrast = " blue";
  const Explanation e = explainer_->explain(input, options_, [&](const SweepProgress& p) { reports.push_back(p); });
  expect_difference(e, " red", " blue");
  const int64_t n = static_cast<int64_t>(e.units.size());
  EXPECT_EQ(e.stats.forward_passes, n + 1);  // one sweep: both answers from the same logits rows
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back().passes_done, n);
  EXPECT_EQ(reports.back().passes_total, n);
  EXPECT_EQ(e.image_size, std::make_pair(int64_t{100}, int64_t{80}));
}

TEST_F(ContrastTest, SameTokensButTheLastShareOneSweep) {
  const Explanation e = contrastive(" red circle", " red square", options_);
  ASSERT_EQ(e.targets.size(), 2u);
  expect_difference(e, " red circle", " red square");
  EXPECT_EQ(e.stats.forward_passes, static_cast<int64_t>(e.units.size()) + 1);
}

TEST_F(ContrastTest, AnswersOfDifferentLengthsRunTwoSweeps) {
  std::vector<SweepProgress> reports;
  ExplainInput input{kPrompt, " red circle", test_image()};
  input.contrast = " blue";
  const Explanation e = explainer_->explain(input, options_, [&](const SweepProgress& p) { reports.push_back(p); });
  expect_difference(e, " red circle", " blue");
  const int64_t n = static_cast<int64_t>(e.units.size());
  EXPECT_EQ(e.stats.forward_passes, 2 * (n + 1));
  ASSERT_FALSE(reports.empty());
  EXPECT_EQ(reports.back().passes_done, 2 * n);
  EXPECT_EQ(reports.back().passes_total, 2 * n);
  // The other way round, single-token conceptual suppression off, another strategy.
  ExplainOptions other = options_;
  other.conceptual_threshold = std::nullopt;
  other.strategy = PassStrategy::kFullLogits;
  other.batch_size = 7;
  options_ = other;
  expect_difference(contrastive(" blue", " red circle", other), " blue", " red circle");
}

TEST_F(ContrastTest, ControlAndWordGroupsCarryOver) {
  options_.control = Control::kLogAdditive;
  options_.granularity = Granularity::kWord;
  const Explanation e = contrastive(" red circle", " blue", options_);
  expect_difference(e, " red circle", " blue");
  bool grouped = false;
  for (const ExplainedUnit& u : e.units) grouped |= u.members.size() > 1;
  EXPECT_TRUE(grouped);
}

TEST_F(ContrastTest, ShapingAppliesToTheContrastMap) {
  ExplainOptions shaped = options_;
  shaped.normalize = true;
  const Explanation raw = contrastive(" red", " blue", options_);
  const Explanation e = contrastive(" red", " blue", shaped);
  ASSERT_TRUE(e.shaped);
  double lo = INFINITY, hi = -INFINITY;
  for (const ExplainedUnit& u : raw.units) {
    lo = std::min(lo, u.relevance);
    hi = std::max(hi, u.relevance);
  }
  ASSERT_LT(lo, 0.0);  // a signed map
  ASSERT_TRUE(raw.contrast.has_value());
  // Two explanations, so two sweeps: a relevance is a difference of summed
  // cross-entropies, equal up to float32 reordering at that sum's scale.
  double ce_scale = 0.0;
  for (const auto& t : raw.targets) ce_scale += t.ce;
  for (const auto& t : raw.contrast->tokens) ce_scale += t.ce;
  const double tolerance = testing::float32_reorder_tolerance(ce_scale);
  for (size_t g = 0; g < e.units.size(); ++g) {
    EXPECT_NEAR(e.units[g].raw_relevance, raw.units[g].relevance, tolerance);
    // The shaping divides by the range (hi - lo); the error of both ends carries over.
    EXPECT_NEAR(e.units[g].relevance, (raw.units[g].relevance - lo) / (hi - lo), 3 * tolerance / (hi - lo));
  }
}

TEST_F(ContrastTest, BadContrastsGetOneLine) {
  expect_error([&] { contrastive(" red", " red", options_); },
               {"the contrast \" red\" is the target \" red\" in tokens: nothing to contrast"});
  expect_error([&] { contrastive(" red", "", options_); }, {"contrast is empty"});
  expect_error([&] { contrastive(" red", "   ", options_); }, {"contrast is only whitespace"});
  expect_error([&] { contrastive(" red", "\xff", options_); }, {"contrast is not valid UTF-8"});
  ExplainOptions per_token = options_;
  per_token.target_granularity = TargetGranularity::kToken;
  expect_error([&] { contrastive(" red", " blue", per_token); }, {"target granularity token does not apply"});
  ExplainOptions coarse = options_;
  coarse.image_search = ImageSearch::kCoarseToFine;
  expect_error([&] { contrastive(" red", " blue", coarse); }, {"image search coarse-to-fine does not apply"});
}

}  // namespace
}  // namespace atman
