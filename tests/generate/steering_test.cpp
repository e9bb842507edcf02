// Steered generation (generate/steering.h, docs/steering.md): factor
// checks, hand-computed modifiers, the KV cache against the full recompute,
// and an empty control list against `atman answer`.
#include "atman/generate/steering.h"

#include <cmath>
#include <iostream>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "atman/model/answer.h"
#include "atman/model/sequence.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::test_model;

const char kStory[] = "Alice met Bob. Alice likes Bob and apples. Alicea sings.";

cv::Mat test_image() {
  cv::Mat rgb(120, 150, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(rgb, cv::Point(45, 50), 22, cv::Scalar(220, 40, 40), cv::FILLED);
  cv::rectangle(rgb, cv::Rect(90, 60, 40, 40), cv::Scalar(40, 180, 60), cv::FILLED);
  return rgb;
}

TEST(SteeringOptionsTest, FactorsOutOfRangeRefused) {
  SteeringOptions o;
  check_steering_options(o);  // defaults are valid
  auto refused = [](SteeringOptions bad, const std::string& message) {
    expect_error([&] { check_steering_options(bad); }, {message});
  };
  SteeringOptions s = o;
  s.suppress_factor = 1.0;
  refused(s, "suppress factor must be a finite number in [0, 1), got 1");
  s.suppress_factor = -0.1;
  refused(s, "suppress factor must be a finite number in [0, 1), got -0.1");
  s.suppress_factor = std::nan("");
  refused(s, "suppress factor must be a finite number in [0, 1), got nan");
  SteeringOptions a = o;
  a.amplify_factor = 1.0;
  refused(a, "amplify factor must be a finite number in (1, 1000], got 1");
  a.amplify_factor = INFINITY;
  refused(a, "amplify factor must be a finite number in (1, 1000], got inf");
  SteeringOptions t = o;
  t.sample = true;
  t.temperature = 0.0;
  refused(t, "temperature must be a finite number in (0, 100], got 0");
  SteeringOptions k = o;
  k.conceptual_threshold = 1.5;
  refused(k, "conceptual threshold must be a finite number in [-1, 1], got 1.5");
  SteeringOptions m = o;
  m.max_tokens = 0;
  refused(m, "max tokens must be in [1, 4096], got 0");
  s = o;
  s.suppress_factor = 0.0;  // the strongest suppression is allowed
  check_steering_options(s);
}

TEST(SteeringModifierTest, HandComputed) {
  SteeringOptions o;  // suppress 0.1, amplify 2.0
  const std::vector<ResolvedControl> controls = {{ControlKind::kSuppress, "a", {1}},
                                                 {ControlKind::kAmplify, "b", {3, 4}}};
  const at::Tensor m = steering_modifier(at::Tensor(), 6, controls, o);
  EXPECT_TRUE(at::allclose(m, at::tensor({1.f, 0.1f, 1.f, 2.f, 2.f, 1.f})));
  EXPECT_EQ(m.scalar_type(), at::kFloat);
  expect_error([&] { steering_modifier(at::Tensor(), 6, {{ControlKind::kSuppress, "a", {2}}, {ControlKind::kAmplify, "b", {2}}}, o); },
               {"position 2 is both suppressed and amplified (spans \"a\" and \"b\")"});

  // Conceptual neighbours: e0 = e1 = (1, 0), e2 = e3 = (0, 1), e4 = (1, 1)/sqrt2, e5 = (-1, 0).
  const double r = 1.0 / std::sqrt(2.0);
  const at::Tensor e = at::tensor({1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, r, r, -1.0, 0.0}, at::kFloat).view({6, 2});
  o.conceptual_threshold = 0.5;
  const at::Tensor c = steering_modifier(e, 6, {{ControlKind::kSuppress, "a", {0}}, {ControlKind::kAmplify, "b", {2}}}, o);
  const double sup4 = 0.9 * (1.0 - r) + 0.1;    // suppress proposal for e4 (cos r with e0)
  const double amp4 = (1.0 - 2.0) * (1.0 - r) + 2.0;  // amplify proposal for e4 (cos r with e2)
  ASSERT_GT(std::abs(std::log(sup4)), std::abs(std::log(amp4)));
  const at::Tensor expected = at::tensor({0.1, 0.1, 2.0, 2.0, sup4, 1.0}, at::kFloat);
  EXPECT_TRUE(at::allclose(c, expected, 1e-6, 1e-6)) << c;
}

// Generation ----------------------------------------------------------------

const char kQuestion[] = "Question: What color is the circle? Answer:";

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Paths {
  GeneratedText cache, recompute;
};

// Both decode paths on the same prompt embeddings and modifier (from steer()).
Paths both_paths(const Model& model, const std::string& prompt, const cv::Mat& image,
                 const std::vector<SteeringControl>& controls, int64_t tokens) {
  SteeringOptions o;
  o.controls = controls;
  o.max_tokens = 1;
  o.unsteered = false;
  const SteeredGeneration g = steer(model, prompt, image, o);
  o.max_tokens = tokens;
  o.stop_at_eos = false;
  o.keep_logits = true;
  return {generate_with_modifier(model, g.embeddings, g.modifier, o, DecodePath::kCache),
          generate_with_modifier(model, g.embeddings, g.modifier, o, DecodePath::kRecompute)};
}

TEST(SteeringGenerateTest, CacheEqualsRecomputeWithAllOnes) {
  // With m = 1 everywhere the semantics coincide (docs/steering.md): every
  // step's logits agree within 1e-5 and the tokens are identical.
  for (const auto& [name, image] : {std::make_pair("image_text.pt", test_image()), std::make_pair("text_only.pt", cv::Mat())}) {
    const auto model = Model::load(test_model(name));
    const Paths p = both_paths(*model, image.empty() ? kStory : kQuestion, image, {}, 24);
    ASSERT_EQ(p.cache.ids.size(), 24u) << name;
    EXPECT_EQ(p.cache.ids, p.recompute.ids) << name;
    EXPECT_LT(max_abs_diff(p.cache.logits, p.recompute.logits), 1e-5) << name;
  }
}

TEST(SteeringGenerateTest, CacheAgainstRecomputeUnderSteering) {
  // Under a non-uniform modifier the first token's row is the same computation
  // on both paths (the prompt in one call); later rows differ slightly, because
  // the recompute takes earlier rows' minimum over keys that came later. Tokens
  // are identical on these cases; the largest logit difference is reported.
  const auto model = Model::load(test_model("image_text.pt"));
  const std::vector<std::vector<SteeringControl>> cases = {
      {{ControlKind::kSuppress, "image:2,2,6,6"}},
      {{ControlKind::kAmplify, "circle"}, {ControlKind::kSuppress, "token:1"}},
      {{ControlKind::kAmplify, "image"}},
  };
  for (const auto& controls : cases) {
    const Paths p = both_paths(*model, kQuestion, test_image(), controls, 16);
    EXPECT_LT(max_abs_diff(p.cache.logits[0], p.recompute.logits[0]), 1e-5) << controls[0].span;
    EXPECT_EQ(p.cache.ids, p.recompute.ids) << controls[0].span;
    std::cout << "[ steering ] " << controls[0].span << ": max |logit difference| cache vs recompute over 16 tokens "
              << max_abs_diff(p.cache.logits, p.recompute.logits) << "\n";
  }
}

TEST(SteeringGenerateTest, EmptyControlsGiveTheGreedyAnswer) {
  for (const auto& [name, image] : {std::make_pair("image_text.pt", test_image()), std::make_pair("text_only.pt", cv::Mat()),
                                     std::make_pair("minimal.pt", test_image())}) {
    const auto model = Model::load(test_model(name));
    const std::string prompt = image.empty() ? kStory : kQuestion;
    SteeringOptions o;
    o.max_tokens = 16;
    const SteeredGeneration g = steer(*model, prompt, image, o);
    const GreedyAnswer answer = greedy_answer(*model, prompt, image, 16);
    EXPECT_EQ(g.steered.ids, answer.ids) << name;
    EXPECT_EQ(g.steered.text, answer.text) << name;
    EXPECT_EQ(g.unsteered.ids, answer.ids) << name;
    EXPECT_EQ(g.path, name == std::string("minimal.pt") ? DecodePath::kRecompute : DecodePath::kCache) << name;
  }
}

TEST(SteeringGenerateTest, SamplingIsDeterministicForASeed) {
  const auto model = Model::load(test_model("text_only.pt"));
  SteeringOptions o;
  o.controls = {{ControlKind::kSuppress, "Alice"}};
  o.sample = true;
  o.temperature = 1.5;
  o.seed = 7;
  o.max_tokens = 12;
  o.stop_at_eos = false;
  const SteeredGeneration a = steer(*model, kStory, cv::Mat(), o);
  const SteeredGeneration b = steer(*model, kStory, cv::Mat(), o);
  EXPECT_EQ(a.steered.ids, b.steered.ids);
  EXPECT_EQ(a.unsteered.ids, b.unsteered.ids);
  o.seed = 8;
  o.path = DecodePath::kRecompute;
  const SteeredGeneration c = steer(*model, kStory, cv::Mat(), o);
  EXPECT_EQ(c.steered.ids.size(), 12u);
  for (double lp : c.steered.logprobs) EXPECT_LE(lp, 0.0);
}

TEST(SteeringGenerateTest, KvCachePathNeedsTheMethod) {
  const auto minimal = Model::load(test_model("minimal.pt"));
  EXPECT_FALSE(minimal->capabilities().step_from_cache);
  EXPECT_EQ(resolve_decode_path(*minimal, DecodePath::kAuto), DecodePath::kRecompute);
  expect_error([&] { resolve_decode_path(*minimal, DecodePath::kCache); },
               {"has no step_from_cache and lm_head methods, so it cannot generate with a KV cache"});
  const auto model = Model::load(test_model("image_text.pt"));
  EXPECT_TRUE(model->capabilities().step_from_cache);
  EXPECT_EQ(resolve_decode_path(*model, DecodePath::kAuto), DecodePath::kCache);
}

TEST(SteeringGenerateTest, ModelStepFromCacheChecksShapes) {
  c10::InferenceMode guard;
  const auto model = Model::load(test_model("text_only.pt"));
  const at::Tensor e = model->embed_text(at::tensor({1, 5, 6}, at::kLong).unsqueeze(0));
  const at::Tensor empty = model->empty_cache();
  EXPECT_EQ(empty.sizes(), (at::IntArrayRef{2, 2, 4, 0, 8}));
  auto [hidden, cache] = model->step_from_cache(e, empty, at::ones({1, 3}));
  EXPECT_EQ(hidden.sizes(), (at::IntArrayRef{1, 3, 32}));
  EXPECT_EQ(cache.sizes(), (at::IntArrayRef{2, 2, 4, 3, 8}));
  // One call equals hidden_states on the prompt (docs/optional_methods.md), also under a modifier.
  const at::Tensor m = at::tensor({1.0f, 0.1f, 2.0f}).unsqueeze(0);
  EXPECT_LT(max_abs_diff(model->step_from_cache(e, empty, m).first, model->hidden_states(e, m)), 1e-5);
  expect_error([&] { model->step_from_cache(e, empty, at::ones({1, 4})); },
               {"step_from_cache: expected embeddings [1, S2, D], cache [L, 2, Hkv, P, dh] and modifier [1, P+S2]"});
}

}  // namespace
}  // namespace atman
