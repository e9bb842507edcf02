#include "atman/core/explainer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "atman/core/pass_runner.h"
#include "atman/core/sweep.h"
#include "explanation_compare.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

cv::Mat test_image() {
  cv::Mat rgb(80, 100, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::circle(rgb, cv::Point(30, 30), 15, cv::Scalar(220, 40, 40), cv::FILLED);
  return rgb;
}

using testing::max_abs;
using testing::max_abs_diff;

TEST(WorkUnitTest, SplitAndGatherInAnyOrder) {
  const auto units = split_work(10, 4);
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[2].begin, 8);
  EXPECT_EQ(units[2].end, 10);
  EXPECT_TRUE(split_work(0, 4).empty());
  EXPECT_THROW(split_work(3, 0), c10::Error);

  const at::Tensor clean = at::tensor({1.0, 2.0}, at::kDouble);
  std::vector<WorkResult> results;
  for (auto it = units.rbegin(); it != units.rend(); ++it) {  // reverse order
    const int64_t n = it->end - it->begin;
    at::Tensor ce = at::arange(it->begin, it->end, at::kDouble).view({n, 1}).repeat({1, 2});
    results.push_back({*it, ce});
  }
  const at::Tensor r = gather_relevance(results, 10, clean);
  EXPECT_EQ(r.sizes(), (at::IntArrayRef{10, 2}));
  EXPECT_DOUBLE_EQ(r[7][0].item<double>(), 7.0 - 1.0);
  EXPECT_DOUBLE_EQ(r[7][1].item<double>(), 7.0 - 2.0);
  results.pop_back();
  expect_error([&] { gather_relevance(results, 10, clean); }, {"some rows were not computed"});
  results.push_back(results.front());
  expect_error([&] { gather_relevance(results, 10, clean); }, {"computed twice"});
}

TEST(ExplainerTest, StrategiesBatchSizesAndThreadsAgree) {
  auto model = Model::load(testing::test_model("image_text.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Question: What color is the circle? Answer:", " red circle", test_image()};
  ExplainOptions base;
  base.batch_size = 16;
  const Explanation ref = explainer.explain(input, base);
  ASSERT_TRUE(ref.image_grid.has_value());
  EXPECT_GE(ref.targets.size(), 2u);
  EXPECT_GT(max_abs(ref), 1e-3);

  ExplainOptions full = base;
  full.strategy = PassStrategy::kFullLogits;
  full.batch_size = 5;
  EXPECT_LT(max_abs_diff(ref, explainer.explain(input, full)), 1e-5 * max_abs(ref));
  ExplainOptions one = base;
  one.batch_size = 1;
  one.threads = 1;
  const Explanation single = explainer.explain(input, one);
  EXPECT_LT(max_abs_diff(ref, single), 1e-5 * max_abs(ref));
  EXPECT_EQ(single.stats.threads, 1);
  EXPECT_EQ(single.stats.forward_passes, static_cast<int64_t>(ref.units.size()) + 1);
}

TEST(ExplainerTest, ProgressReportsEveryWorkUnit) {
  auto model = Model::load(testing::test_model("text_only.pt"));
  Explainer explainer(model);
  ExplainOptions options;
  options.batch_size = 3;
  std::vector<int64_t> done;
  int64_t total = 0;
  const Explanation e = explainer.explain({"Alice lives in Paris.", " Paris", {}}, options,
                                          [&](const SweepProgress& p) {
                                            done.push_back(p.passes_done);
                                            total = p.passes_total;
                                          });
  EXPECT_EQ(total, static_cast<int64_t>(e.units.size()));
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(done.back(), total);
  EXPECT_EQ(done.front(), 3);
  EXPECT_FALSE(e.image_grid.has_value());
}

TEST(ExplainerTest, ExplainsEveryPromptAndTargetPositionButTheLast) {
  auto model = Model::load(testing::test_model("image_text.pt"));
  Explainer explainer(model);
  ExplainOptions options;
  options.conceptual_threshold = std::nullopt;
  const ExplainInput input{"What is it?", " a red circle", test_image()};
  const PreparedInput prepared = explainer.prepare(input, options);
  const Explanation e = explainer.explain(input, options);
  const int64_t s = prepared.sequence.length();
  ASSERT_EQ(static_cast<int64_t>(e.units.size()), s);
  EXPECT_EQ(e.units.front().kind, PositionKind::kImage);
  EXPECT_EQ(e.units[13].patch_row, 1);
  EXPECT_EQ(e.units[13].patch_col, 1);
  EXPECT_EQ(e.units.back().kind, PositionKind::kTarget);
  EXPECT_EQ(e.units.back().index, s - 1);
  EXPECT_EQ(e.targets.size(), prepared.sequence.target_ids.size());
  for (const auto& u : e.units) {
    double sum = 0;
    for (double v : u.per_target) sum += v;
    EXPECT_NEAR(u.relevance, sum, 1e-12);
  }
  // Single-token rows: exactly one factor per row differs from 1.
  EXPECT_EQ(prepared.modifiers.ne(1.0).sum().item<int64_t>(), s);
}

TEST(ExplainerTest, PreparedEmbeddingsWorkWithAutograd) {
  auto model = Model::load(testing::test_model("text_only.pt"));
  const PreparedInput prepared = Explainer(model).prepare({"Alice lives in Paris.", " Paris", {}}, {});
  at::Tensor embeddings = prepared.embeddings.detach().requires_grad_();
  const int64_t s = prepared.sequence.length();
  model->forward(embeddings, at::ones({1, s})).select(1, s - 1).sum().backward();
  ASSERT_TRUE(embeddings.grad().defined());
  EXPECT_GT(embeddings.grad().abs().sum().item<double>(), 0.0);
}

TEST(ExplainerTest, BadInputsGetOneLine) {
  auto text = Model::load(testing::test_model("text_only.pt"));
  expect_error([&] { Explainer(text).explain({"hello", " x", test_image()}, {}); },
               {"model test-text-only is text-only (config image is null): it takes no image"});
  auto nan = Model::load(testing::bad_model("nan_logits.pt"));
  expect_error([&] { Explainer(nan).explain({"hello", " x", {}}, {}); },
               {"nan_logits.pt: model bad-model produced NaN or Inf logits"});
  auto minimal = Model::load(testing::test_model("minimal.pt"));
  ExplainOptions target_only;
  target_only.strategy = PassStrategy::kTargetOnly;
  expect_error([&] { Explainer(minimal).explain({"hello", " x", {}}, target_only); },
               {"minimal.pt: the target-only strategy needs the optional methods hidden_states and lm_head"});
  ExplainOptions bad;
  bad.suppression_factor = std::nan("");
  expect_error([&] { Explainer(text).explain({"hello", " x", {}}, bad); }, {"suppression factor must be"});
  bad = {};
  bad.conceptual_threshold = 1.5;
  expect_error([&] { Explainer(text).explain({"hello", " x", {}}, bad); },
               {"conceptual threshold must be in [-1, 1] or off, got 1.5"});
  bad = {};
  bad.batch_size = -2;
  expect_error([&] { Explainer(text).explain({"hello", " x", {}}, bad); }, {"batch size must be >= 0, got -2"});
}

}  // namespace
}  // namespace atman
