#include "atman/model/sequence.h"
#include "atman/core/units.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

std::shared_ptr<Model> text_model() {
  static std::shared_ptr<Model> model = Model::load(testing::test_model("text_only.pt"));
  return model;
}

TEST(SequenceTest, QuestionFillsTemplate) {
  ModelConfig c;
  c.prompt_template = "Question: {question} Answer:";
  EXPECT_EQ(prompt_from_question(c, "What color is the circle?"), "Question: What color is the circle? Answer:");
  expect_error([&] { prompt_from_question(c, ""); }, {"question is empty"});
}

TEST(SequenceTest, LayoutOfImagePromptAndTarget) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  const Sequence s = build_sequence(*model, "Bob likes tea.", " green tea", 6);
  const auto prompt_ids = tok.encode("Bob likes tea.");
  const auto target_ids = tok.encode(" green tea");
  ASSERT_EQ(s.prompt_ids.size(), prompt_ids.size() + 1);
  EXPECT_EQ(s.prompt_ids[0], model->config().bos_id);
  EXPECT_EQ(s.target_ids, target_ids);
  EXPECT_EQ(s.prompt_begin(), 6);
  EXPECT_EQ(s.target_begin(), 6 + static_cast<int64_t>(prompt_ids.size()) + 1);
  EXPECT_EQ(s.length(), s.target_begin() + static_cast<int64_t>(target_ids.size()) - 1);
  EXPECT_EQ(s.prediction_row(0), s.target_begin() - 1);
  EXPECT_EQ(s.kind_of(5), PositionKind::kImage);
  EXPECT_EQ(s.kind_of(6), PositionKind::kText);
  EXPECT_EQ(s.token_id_at(5), -1);
  EXPECT_EQ(s.token_id_at(6), model->config().bos_id);
  const auto text = s.text_ids();
  EXPECT_EQ(static_cast<int64_t>(text.size()), s.length() - 6);
  if (target_ids.size() > 1) EXPECT_EQ(s.kind_of(s.target_begin()), PositionKind::kTarget);
}

TEST(SequenceTest, RejectsBadPromptsAndTargets) {
  auto model = text_model();
  expect_error([&] { build_sequence(*model, "", " x", 0); }, {"prompt is empty"});
  expect_error([&] { build_sequence(*model, "hello", "", 0); }, {"target is empty"});
  expect_error([&] { build_sequence(*model, "   \n", " x", 0); }, {"prompt is only whitespace"});
  expect_error([&] { build_sequence(*model, "caf\xe9", " x", 0); },
               {"prompt is not valid UTF-8 (byte 0xe9 at offset 3)"});
  expect_error([&] { build_sequence(*model, "hello", " \xff", 0); }, {"target is not valid UTF-8"});
  const std::string long_prompt(4000, 'a');
  expect_error([&] { build_sequence(*model, long_prompt, " x", 0); },
               {"exceeds the model's max_positions 256"});
  expect_error([&] { build_sequence(*model, "hello there", " x", 250); },
               {"(250 image + ", "exceeds the model's max_positions 256"});
}

std::vector<std::vector<std::string>> grouped_pieces(const Sequence& s, const std::vector<std::vector<int64_t>>& g) {
  std::vector<std::vector<std::string>> out;
  for (const auto& members : g) {
    std::vector<std::string> pieces;
    for (int64_t p : members) pieces.push_back(s.kind_of(p) == PositionKind::kImage ? "#" : s.piece_at(p));
    out.push_back(pieces);
  }
  return out;
}

std::string joined(const std::vector<std::string>& pieces) {
  std::string out;
  for (const auto& p : pieces) out += p;
  return out;
}

TEST(SequenceTest, GroupsTokensWordsAndSentences) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  const Sequence s = build_sequence(*model, "Bob likes tea. Where is Bob?", " green tea. Yes", 2);
  const auto tokens = explained_groups(s, Granularity::kToken, tok);
  EXPECT_EQ(static_cast<int64_t>(tokens.size()), s.length());
  for (int64_t i = 0; i < s.length(); ++i) EXPECT_EQ(tokens[i], std::vector<int64_t>{i});

  const auto words = grouped_pieces(s, explained_groups(s, Granularity::kWord, tok));
  std::vector<std::string> word_text;
  for (const auto& w : words) word_text.push_back(joined(w));
  const std::string u = "\xe2\x96\x81";
  const std::vector<std::string> expected_words = {"#", "#", "<s>", u + "Bob", u + "likes", u + "tea.",
                                                   u + "Where", u + "is", u + "Bob?",
                                                   // target segment (all but the last token " Yes"'s last piece)
                                                   u + "green", u + "tea."};
  ASSERT_GE(word_text.size(), expected_words.size());
  for (size_t i = 0; i < expected_words.size(); ++i) EXPECT_EQ(word_text[i], expected_words[i]) << i;

  const auto sentences = grouped_pieces(s, explained_groups(s, Granularity::kSentence, tok));
  std::vector<std::string> sentence_text;
  for (const auto& g : sentences) sentence_text.push_back(joined(g));
  ASSERT_GE(sentence_text.size(), 6u);
  EXPECT_EQ(sentence_text[2], "<s>");
  EXPECT_EQ(sentence_text[3], u + "Bob" + u + "likes" + u + "tea.");
  EXPECT_EQ(sentence_text[4], u + "Where" + u + "is" + u + "Bob?");
  EXPECT_EQ(sentence_text[5].rfind(u + "green" + u + "tea.", 0), 0u);  // target segment starts a new group
  // Every text position is in exactly one group, in order.
  int64_t next = 0;
  for (const auto& g : explained_groups(s, Granularity::kSentence, tok)) {
    for (int64_t p : g) EXPECT_EQ(p, next++);
  }
  EXPECT_EQ(next, s.length());
}


// Sequences without a model (what the prompt fuzzer drives).
TEST(SequenceFromConfigTest, CountsTheImagePrefixAgainstMaxPositions) {
  const auto model = Model::load(testing::test_model("text_only.pt"));
  ModelConfig c = model->config();
  c.max_positions = 25;
  const Sequence s = build_sequence(c, model->tokenizer(), "hello there", " x", 10);
  EXPECT_EQ(s.length(), 10 + static_cast<int64_t>(s.prompt_ids.size() + s.target_ids.size()) - 1);
  expect_error([&] { build_sequence(c, model->tokenizer(), "hello there", " x", 19); },
               {"exceeds the model's max_positions 25", "(19 image + "});
}

}  // namespace
}  // namespace atman
