// The removal operators (removal.h) and leave-one-out (loo.h) against a
// direct computation with the model's own methods: the sequence rebuilt by
// hand without the removed tokens, the pixels filled by hand, the modifier
// written by hand; LOO by hand on a three-token prompt. (Against a float64
// re-implementation of the network: tests/python/test_faithfulness.py.)
#include "atman/methods/removal.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "atman/io/image.h"
#include "atman/methods/loo.h"
#include "atman/methods/registry.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::test_model;

// log p of every target token, float64 [T], by forward() on ids and image embeddings given by hand.
at::Tensor direct_log_probs(const Model& model, const at::Tensor& embeddings, const at::Tensor& modifier,
                            int64_t first_row, const std::vector<int64_t>& target_ids) {
  c10::InferenceMode guard;
  const at::Tensor logits = model.forward(embeddings, modifier)[0].to(at::kDouble);
  at::Tensor out = at::zeros({static_cast<int64_t>(target_ids.size())}, at::kDouble);
  for (size_t t = 0; t < target_ids.size(); ++t) {
    out[t] = at::log_softmax(logits[first_row + static_cast<int64_t>(t)], 0)[target_ids[t]];
  }
  return out;
}

at::Tensor embed_ids(const Model& model, const std::vector<int64_t>& ids) {
  c10::InferenceMode guard;
  return model.embed_text(at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())}));
}

// Text: tokens 1 and 3 of the prompt deleted (input) or given modifier 0 (attention).
TEST(RemovalTest, TextAgainstDirectComputation) {
  auto model = Model::load(test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Alice lives in Paris. Question: Where does Alice live? Answer:", " Paris.", {}};
  const PreparedInput prepared = explainer.prepare(input, ExplainOptions{});
  const Sequence& seq = prepared.sequence;
  const Remover remover(*model, input, prepared);
  const at::Tensor got = remover.log_probs(RemovalOperator::kInput, {{}, {1, 3}});
  const at::Tensor got_attention = remover.log_probs(RemovalOperator::kAttention, {{1, 3}});

  std::vector<int64_t> ids;
  for (size_t k = 0; k < seq.prompt_ids.size(); ++k) {
    if (k != 1 && k != 3) ids.push_back(seq.prompt_ids[k]);
  }
  const int64_t first_row = static_cast<int64_t>(ids.size()) - 1;
  ids.insert(ids.end(), seq.target_ids.begin(), seq.target_ids.end() - 1);
  const at::Tensor removed = direct_log_probs(*model, embed_ids(*model, ids), at::ones({1, static_cast<int64_t>(ids.size())}),
                                              first_row, seq.target_ids);
  const at::Tensor clean = direct_log_probs(*model, prepared.embeddings, at::ones({1, seq.length()}),
                                            seq.target_begin() - 1, seq.target_ids);
  at::Tensor modifier = at::ones({1, seq.length()});
  modifier[0][1] = 0.0f;
  modifier[0][3] = 0.0f;
  const at::Tensor attention = direct_log_probs(*model, prepared.embeddings, modifier, seq.target_begin() - 1,
                                                seq.target_ids);
  EXPECT_TRUE(at::allclose(got[0], clean, 1e-5, 1e-5)) << got[0] << clean;
  EXPECT_TRUE(at::allclose(got[1], removed, 1e-5, 1e-5)) << got[1] << removed;
  EXPECT_TRUE(at::allclose(got_attention[0], attention, 1e-5, 1e-5)) << got_attention[0] << attention;
  EXPECT_GT((got[1] - clean).abs().max().item<double>(), 1e-3);  // the removal changes something
}

// Image: patches 0 and 7 filled with the per-channel mean of the pixel tensor.
TEST(RemovalTest, ImagePatchesAgainstDirectComputation) {
  auto model = Model::load(test_model("image_text.pt"));
  Explainer explainer(model);
  cv::Mat rgb(96, 96, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::circle(rgb, cv::Point(30, 30), 14, cv::Scalar(220, 40, 40), cv::FILLED);
  const ExplainInput input{"Question: What color is the circle? Answer:", " red", rgb};
  const PreparedInput prepared = explainer.prepare(input, ExplainOptions{});
  const Sequence& seq = prepared.sequence;
  const ImageConfig& image = *model->config().image;
  const Remover remover(*model, input, prepared);
  const int64_t a = seq.image_begin, b = seq.image_begin + 7;
  const at::Tensor got = remover.log_probs(RemovalOperator::kInput, {{a, b}});

  c10::InferenceMode guard;
  at::Tensor pixels = image_to_tensor(rgb, image);
  const at::Tensor mean = pixels.mean({2, 3});
  const int64_t ph = image.height / image.grid_rows, pw = image.width / image.grid_cols;
  for (int64_t patch : {0, 7}) {
    const int64_t r = patch / image.grid_cols, c = patch % image.grid_cols;
    for (int64_t ch = 0; ch < 3; ++ch) {
      pixels[0][ch].slice(0, r * ph, (r + 1) * ph).slice(1, c * pw, (c + 1) * pw).fill_(mean[0][ch].item<double>());
    }
  }
  at::Tensor embeddings = prepared.embeddings.clone();
  embeddings.slice(1, seq.image_begin, seq.image_end()).copy_(model->embed_image(pixels));
  const at::Tensor want = direct_log_probs(*model, embeddings, at::ones({1, seq.length()}), seq.target_begin() - 1,
                                           seq.target_ids);
  EXPECT_TRUE(at::allclose(got[0], want, 1e-5, 1e-5)) << got[0] << want;
}

TEST(RemovalTest, Errors) {
  auto model = Model::load(test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Alice lives", " in", {}};
  const PreparedInput prepared = explainer.prepare(input, ExplainOptions{});
  const Remover remover(*model, input, prepared);
  const int64_t t = prepared.sequence.target_begin();
  expect_error([&] { remover.log_probs(RemovalOperator::kInput, {{t}}); },
               {"Remover: position", "cannot be removed (image patches and prompt tokens are 0.."});
  std::vector<int64_t> all;
  for (int64_t p = 0; p < t; ++p) all.push_back(p);
  expect_error([&] { remover.log_probs(RemovalOperator::kInput, {all}); },
               {"Remover: removing every prompt position leaves nothing to predict the target from"});
}

// LOO by hand: a prompt of three tokens (BOS + two), each deleted in turn and
// the model rerun on the two left; R = CE(without) - CE(clean). Target
// positions get 0.
TEST(RemovalTest, LeaveOneOutByHandOnThreeTokens) {
  auto model = Model::load(test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"the red", " circle Paris", {}};
  const PreparedInput prepared = explainer.prepare(input, ExplainOptions{});
  const Sequence& seq = prepared.sequence;
  ASSERT_EQ(seq.prompt_ids.size(), 3u);
  ASSERT_GE(seq.target_ids.size(), 2u);
  int64_t passes = 0;
  const at::Tensor loo = leave_one_out(*model, input, prepared, &passes);
  EXPECT_EQ(passes, 4);
  const at::Tensor clean = direct_log_probs(*model, prepared.embeddings, at::ones({1, seq.length()}), 2, seq.target_ids);
  for (int64_t gone = 0; gone < 3; ++gone) {
    std::vector<int64_t> ids;
    for (int64_t k = 0; k < 3; ++k) {
      if (k != gone) ids.push_back(seq.prompt_ids[k]);
    }
    ids.insert(ids.end(), seq.target_ids.begin(), seq.target_ids.end() - 1);
    const at::Tensor lp = direct_log_probs(*model, embed_ids(*model, ids),
                                           at::ones({1, static_cast<int64_t>(ids.size())}), 1, seq.target_ids);
    EXPECT_TRUE(at::allclose(loo[gone], clean - lp, 1e-5, 1e-5)) << gone << loo[gone] << clean - lp;
  }
  for (int64_t p = 3; p < seq.length(); ++p) EXPECT_EQ(loo[p].abs().sum().item<double>(), 0.0);

  const Explanation e = explain_with_method(explainer, parse_method("loo"), input, ExplainOptions{});
  EXPECT_EQ(e.method, "loo");
  // Another run of the same passes: equal up to float32 reordering of the answer's CE.
  EXPECT_NEAR(e.units[1].relevance, loo[1].sum().item<double>(),
              testing::float32_reorder_tolerance(-clean.sum().item<double>()));
  EXPECT_EQ(e.stats.forward_passes, 5);  // the registry's clean pass and LOO's four
}

}  // namespace
}  // namespace atman
