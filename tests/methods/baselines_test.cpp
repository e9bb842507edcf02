// The baselines of `explain --method`: IG completeness, rollout and Chefer's
// rule on hand-computed cases, batching, grouping and error paths. (Agreement
// with an independent PyTorch implementation: tests/python/test_baseline_agreement.py.)
#include "atman/methods/baselines.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "atman/model/sequence.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::test_model;

cv::Mat scene() {
  cv::Mat rgb(96, 96, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::circle(rgb, cv::Point(30, 30), 14, cv::Scalar(220, 40, 40), cv::FILLED);
  cv::rectangle(rgb, cv::Rect(55, 55, 30, 30), cv::Scalar(40, 180, 60), cv::FILLED);
  return rgb;
}

ExplainInput image_input() { return {"Question: What color is the circle? Answer:", " red", scene()}; }

// Integrated Gradients' completeness: sum_i R[i, t] = log p_t(E) - log p_t(0)
// up to the Riemann sum's error, which shrinks with the steps. On a model
// whose path from the zero embedding is piecewise smooth (shifted.pt: the
// LayerNorms never see inputs near 0; the adapters' ReLU kinks make the
// midpoint rule first order), measured n * error / |delta| <= 0.6 for n = 2 ..
// 256. Required: error(n) <= |delta| / n + 2e-5 (float32 gradients) for
// n = 4, 16, 64, 256, through forward() (the model has only the required
// methods), and error(256) < error(4).
// (On the plain test models the path's first ~2% lies within LayerNorm's eps
// of zero, where the integrand spikes: uniform steps then converge slowly,
// e.g. error 2.3 at 16 steps, 0.37 at 256, 0.015 at 4096 on text_only.pt.)
TEST(BaselinesTest, IntegratedGradientsCompleteness) {
  auto model = Model::load(test_model("shifted.pt"));
  ASSERT_FALSE(model->capabilities().target_only());
  Explainer explainer(model);
  const ExplainInput input{"Alice lives in Paris. Question: Where does Alice live? Answer:", " Paris.", {}};
  const PreparedInput prepared = explainer.prepare(input, ExplainOptions{});
  const at::Tensor full = target_log_probs(*model, prepared, prepared.embeddings);
  const at::Tensor zero = target_log_probs(*model, prepared, at::zeros_like(prepared.embeddings));
  const at::Tensor delta = full - zero;  // [T]
  ASSERT_EQ(delta.size(0), 2);
  std::vector<double> first;
  for (int64_t steps : {4, 16, 64, 256}) {
    const at::Tensor r = integrated_gradients(*model, prepared, steps, 64);
    ASSERT_EQ(r.size(0), prepared.sequence.length());
    for (int64_t t = 0; t < r.size(1); ++t) {
      const double d = delta[t].item<double>();
      const double error = std::abs(r.select(1, t).sum().item<double>() - d);
      EXPECT_LE(error, std::abs(d) / static_cast<double>(steps) + 2e-5)
          << "steps " << steps << " target " << t << " delta " << d;
      if (steps == 4) first.push_back(error);
      if (steps == 256) EXPECT_LT(error, first[t]) << "target " << t;
    }
  }
}

TEST(BaselinesTest, IntegratedGradientsBatchSizeDoesNotMatter) {
  auto model = Model::load(test_model("image_text.pt"));
  Explainer explainer(model);
  const PreparedInput prepared = explainer.prepare(image_input(), ExplainOptions{});
  const at::Tensor a = integrated_gradients(*model, prepared, 10, 10);
  const at::Tensor b = integrated_gradients(*model, prepared, 10, 3);
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-5 * a.abs().max().item<double>());
}

// Two layers, two heads, three positions (rows: queries).
//   layer 1: heads [[1,0,0],[.5,.5,0],[.2,.3,.5]] and [[1,0,0],[.5,.5,0],[.4,.1,.5]]
//            mean [[1,0,0],[.5,.5,0],[.3,.2,.5]]; (A + I)/2 = [[1,0,0],[.25,.75,0],[.15,.1,.75]]
//   layer 2: heads [[1,0,0],[1,0,0],[0,0,1]] and [[1,0,0],[0,1,0],[0,1,0]]
//            mean [[1,0,0],[.5,.5,0],[0,.5,.5]]; (A + I)/2 = [[1,0,0],[.25,.75,0],[0,.25,.75]]
//   rollout = L2 * L1:
//     row 0: [1, 0, 0]
//     row 1: .25*[1,0,0] + .75*[.25,.75,0]                      = [.4375, .5625, 0]
//     row 2: .25*[.25,.75,0] + .75*[.15,.1,.75]                 = [.175, .2625, .5625]
TEST(BaselinesTest, RolloutTwoLayersByHand) {
  const at::Tensor l1 = at::tensor({1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.2, 0.3, 0.5,  //
                                    1.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.4, 0.1, 0.5},
                                   at::kDouble)
                            .view({1, 2, 3, 3});
  const at::Tensor l2 = at::tensor({1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,  //
                                    1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0},
                                   at::kDouble)
                            .view({2, 3, 3});  // [H, S, S] works too
  const at::Tensor r = attention_rollout({l1, l2});
  const at::Tensor want =
      at::tensor({1.0, 0.0, 0.0, 0.4375, 0.5625, 0.0, 0.175, 0.2625, 0.5625}, at::kDouble).view({3, 3});
  EXPECT_TRUE(at::allclose(r, want, 0.0, 1e-12)) << r;
  EXPECT_TRUE(at::allclose(r.sum(1), at::ones({3}, at::kDouble)));
  expect_error([] { attention_rollout({}); }, {"no attention maps"});
  expect_error([&] { attention_rollout({l1, at::ones({2, 4, 4})}); }, {"layer 1 has 4 positions, layer 0 has 3"});
}

// One head, two positions, two layers.
//   layer 1: A = [[1,0],[.6,.4]], G = [[0,0],[1,-1]] -> max(0, G*A) = [[0,0],[.6,0]]
//            R = I + [[0,0],[.6,0]] I = [[1,0],[.6,1]]
//   layer 2: A = [[1,0],[.5,.5]], G = [[0,0],[2,2]] -> [[0,0],[1,1]]
//            R = [[1,0],[.6,1]] + [[0,0],[1,1]] [[1,0],[.6,1]] = [[1,0],[2.2,2]]
TEST(BaselinesTest, CheferRuleByHand) {
  const at::Tensor a1 = at::tensor({1.0, 0.0, 0.6, 0.4}, at::kDouble).view({1, 2, 2});
  const at::Tensor g1 = at::tensor({0.0, 0.0, 1.0, -1.0}, at::kDouble).view({1, 2, 2});
  const at::Tensor a2 = at::tensor({1.0, 0.0, 0.5, 0.5}, at::kDouble).view({1, 2, 2});
  const at::Tensor g2 = at::tensor({0.0, 0.0, 2.0, 2.0}, at::kDouble).view({1, 2, 2});
  const at::Tensor r = chefer_rule({a1, a2}, {g1, g2});
  const at::Tensor want = at::tensor({1.0, 0.0, 2.2, 2.0}, at::kDouble).view({2, 2});
  EXPECT_TRUE(at::allclose(r, want, 0.0, 1e-12)) << r;
  // An unused layer (undefined gradient) adds nothing.
  EXPECT_TRUE(at::allclose(chefer_rule({a1, a2}, {g1, at::Tensor()}),
                           at::tensor({1.0, 0.0, 0.6, 1.0}, at::kDouble).view({2, 2})));
  expect_error([&] { chefer_rule({a1}, {}); }, {"as many gradients as maps"});
}

TEST(BaselinesTest, EveryMethodExplainsEveryPosition) {
  auto model = Model::load(test_model("image_text.pt"));
  Explainer explainer(model);
  const int64_t length = explainer.prepare(image_input(), ExplainOptions{}).sequence.length();
  for (Method m : all_methods()) {
    SCOPED_TRACE(method_name(m));
    BaselineOptions baseline;
    baseline.ig_steps = 4;
    const Explanation e = explain_with_method(explainer, m, image_input(), ExplainOptions{}, baseline);
    EXPECT_EQ(e.method, method_name(m));
    ASSERT_EQ(static_cast<int64_t>(e.units.size()), length);
    for (size_t i = 0; i < e.units.size(); ++i) EXPECT_EQ(e.units[i].index, static_cast<int64_t>(i));
    ASSERT_EQ(e.targets.size(), 1u);
    EXPECT_GT(e.targets[0].ce, 0.0);
    bool any = false;
    for (const auto& u : e.units) any = any || u.relevance != 0.0;
    EXPECT_TRUE(any);
    // ig: ig_steps and ig_completeness_gap; attnlrp: explained_logit and conservation_gap; the others none.
    const bool two_params = m == Method::kIntegratedGradients || m == Method::kAttnLrp;
    EXPECT_EQ(e.method_params.size(), two_params ? 2u : 0u);
    if (m == Method::kAttnLrp) {
      EXPECT_EQ(e.method_params[0].first, "explained_logit");
      EXPECT_EQ(e.method_params[1].first, "conservation_gap");
    }
  }
}

TEST(BaselinesTest, WordGroupsSumTheirMembers) {
  auto model = Model::load(test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Alice likes apples. Question: What does Alice like? Answer:", " apples", {}};
  ExplainOptions tokens, words;
  words.granularity = Granularity::kWord;
  const Explanation t = explain_with_method(explainer, Method::kInputXGradient, input, tokens);
  const Explanation w = explain_with_method(explainer, Method::kInputXGradient, input, words);
  ASSERT_LT(w.units.size(), t.units.size());
  for (const auto& unit : w.units) {
    double sum = 0.0;
    for (int64_t p : unit.members) sum += t.units[p].relevance;
    EXPECT_NEAR(unit.relevance, sum, 1e-12);
  }
}

TEST(BaselinesTest, NamesAndErrors) {
  for (Method m : all_methods()) EXPECT_EQ(parse_method(method_name(m)), m);
  expect_error([] { parse_method("gradcam"); }, {"method must be atman, ixg, ig, rollout, chefer", "got \"gradcam\""});
  auto minimal = Model::load(test_model("minimal.pt"));
  Explainer explainer(minimal);
  for (Method m : {Method::kRollout, Method::kChefer}) {
    expect_error([&] { explain_with_method(explainer, m, image_input(), ExplainOptions{}); },
                 {"minimal.pt", "has no method forward_with_attentions(embeddings, modifier)", "docs/optional_methods.md",
                  "method " + method_name(m)});
  }
  expect_error([&] { explain_with_method(explainer, Method::kAttnLrp, image_input(), ExplainOptions{}); },
               {"minimal.pt: model test-minimal has no method forward_lrp(embeddings) (docs/optional_methods.md): "
                "method attnlrp needs it"});
  // The gradient methods work on a model with only the required methods.
  EXPECT_NO_THROW(explain_with_method(explainer, Method::kInputXGradient, image_input(), ExplainOptions{}));
  BaselineOptions zero;
  zero.ig_steps = 0;
  auto model = Model::load(test_model("image_text.pt"));
  Explainer ok(model);
  expect_error([&] { explain_with_method(ok, Method::kIntegratedGradients, image_input(), ExplainOptions{}, zero); },
               {"IG steps must be >= 1, got 0"});
}

}  // namespace
}  // namespace atman
