// Greedy answers (model/answer.h) against an independent computation: the
// argmax of Model::forward over the whole sequence, re-embedded from the ids
// at every step, on the test models (with and without the fast
// hidden_states + lm_head path).
#include "atman/model/answer.h"

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

// Tokens a greedy decoder picks after `prompt`: one full forward pass per
// token over [bos] + prompt + the tokens so far, until eos, max_tokens or
// max_positions.
std::vector<int64_t> argmax_steps(const Model& model, const std::string& prompt, int64_t max_tokens) {
  const ModelConfig& c = model.config();
  std::vector<int64_t> ids = model.tokenizer().encode(prompt);
  if (c.add_bos) ids.insert(ids.begin(), c.bos_id);
  std::vector<int64_t> out;
  while (static_cast<int64_t>(out.size()) < max_tokens && static_cast<int64_t>(ids.size()) < c.max_positions) {
    const int64_t n = static_cast<int64_t>(ids.size());
    const at::Tensor embeddings = model.embed_text(at::tensor(ids, at::kLong).unsqueeze(0));
    const at::Tensor logits = model.forward(embeddings, at::ones({1, n}, at::kFloat));
    const int64_t next = logits[0][n - 1].argmax().item<int64_t>();
    if (c.eos_id && next == *c.eos_id) break;
    out.push_back(next);
    ids.push_back(next);
  }
  return out;
}

TEST(GreedyAnswerTest, MatchesTheStepByStepArgmaxOfForward) {
  for (const char* name : {"text_only.pt", "shifted.pt", "long_context.pt", "minimal.pt"}) {
    SCOPED_TRACE(name);
    const auto model = Model::load(testing::test_model(name));
    for (const std::string prompt : {"Bob likes tea.", "What color is the circle? Answer:"}) {
      SCOPED_TRACE(prompt);
      const std::vector<int64_t> want = argmax_steps(*model, prompt, 6);
      const GreedyAnswer got = greedy_answer(*model, prompt, cv::Mat(), 6);
      EXPECT_EQ(got.ids, want);
      EXPECT_LE(got.ids.size(), 6u);
      std::string text = model->tokenizer().decode(want);
      text.erase(0, text.find_first_not_of(' '));
      text.erase(text.find_last_not_of(' ') + 1);
      EXPECT_EQ(got.text, text);
    }
  }
}

TEST(GreedyAnswerTest, StopsAtMaxTokensAndMaxPositions) {
  const auto model = Model::load(testing::test_model("text_only.pt"));
  EXPECT_TRUE(greedy_answer(*model, "Bob likes tea.", cv::Mat(), 0).ids.empty());
  const GreedyAnswer one = greedy_answer(*model, "Bob likes tea.", cv::Mat(), 1);
  EXPECT_EQ(one.ids, argmax_steps(*model, "Bob likes tea.", 1));
  // A prompt that leaves room for two more positions: at most two tokens, whatever max_tokens says.
  const ModelConfig& c = model->config();
  std::string prompt = "tea";
  while (static_cast<int64_t>(model->tokenizer().encode(prompt + " tea").size()) + (c.add_bos ? 1 : 0) <=
         c.max_positions - 2) {
    prompt += " tea";
  }
  const int64_t room = c.max_positions - static_cast<int64_t>(model->tokenizer().encode(prompt).size()) -
                       (c.add_bos ? 1 : 0);
  ASSERT_GE(room, 2);
  const GreedyAnswer capped = greedy_answer(*model, prompt, cv::Mat(), 1000);
  EXPECT_LE(static_cast<int64_t>(capped.ids.size()), room);
  EXPECT_EQ(capped.ids, argmax_steps(*model, prompt, 1000));
}

TEST(GreedyAnswerTest, RefusesBadInputWithOneLine) {
  const auto model = Model::load(testing::test_model("text_only.pt"));
  expect_error([&] { greedy_answer(*model, "", cv::Mat()); }, {"prompt is empty"});
  expect_error([&] { greedy_answer(*model, " \t", cv::Mat()); }, {"prompt is only whitespace"});
  expect_error([&] { greedy_answer(*model, "hello", cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3))); },
               {"is text-only (config image is null) but an image was given"});
  std::string huge = "tea";
  for (int64_t i = 0; i < model->config().max_positions; ++i) huge += " tea";
  expect_error([&] { greedy_answer(*model, huge, cv::Mat()); },
               {"positions but the model allows " + std::to_string(model->config().max_positions)});
}

}  // namespace
}  // namespace atman
