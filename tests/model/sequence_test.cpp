#include "atman/model/sequence.h"
#include "atman/core/units.h"

#include <ATen/ATen.h>
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
  EXPECT_EQ(s.image_begin, 0);  // without {image}: the image first, before BOS
  EXPECT_EQ(s.image_end(), 6);
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


// {image} in the prompt (docs/contract.md, "Prompt and target ids"): [bos] +
// encode(before) + P image positions + encode(after), each part on its own.
ModelConfig image_config_of(const Model& model, int64_t rows, int64_t cols) {
  ModelConfig c = model.config();
  ImageConfig ic;
  ic.height = 8 * rows;
  ic.width = 8 * cols;
  ic.grid_rows = rows;
  ic.grid_cols = cols;
  c.image = ic;
  return c;
}

TEST(SequenceTest, ImageMarkerPlacesTheImageInsideThePrompt) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  const ModelConfig c = image_config_of(*model, 2, 3);  // P = 6
  const Sequence s = build_sequence(c, tok, "USER: {image}\nWhat is it? ASSISTANT:", " a red cat", 6);
  const auto before = tok.encode("USER: ");
  const auto after = tok.encode("\nWhat is it? ASSISTANT:");
  const auto target = tok.encode(" a red cat");
  ASSERT_FALSE(before.empty());
  ASSERT_FALSE(after.empty());
  ASSERT_GE(target.size(), 2u);
  // Hand-computed layout: BOS at 0, "USER: " at 1..b, the image at b+1..b+6, then the rest.
  const int64_t b = static_cast<int64_t>(before.size()), a = static_cast<int64_t>(after.size());
  std::vector<int64_t> want_prompt{c.bos_id};
  want_prompt.insert(want_prompt.end(), before.begin(), before.end());
  want_prompt.insert(want_prompt.end(), after.begin(), after.end());
  EXPECT_EQ(s.prompt_ids, want_prompt);
  EXPECT_EQ(s.image_begin, 1 + b);
  EXPECT_EQ(s.image_end(), 1 + b + 6);
  EXPECT_EQ(s.image_marker, 6u);  // byte offset of {image}
  EXPECT_EQ(s.target_begin(), 1 + b + 6 + a);
  EXPECT_EQ(s.length(), 1 + b + 6 + a + static_cast<int64_t>(target.size()) - 1);
  EXPECT_EQ(s.prediction_row(0), 1 + b + 6 + a - 1);
  EXPECT_EQ(s.kind_of(0), PositionKind::kText);
  EXPECT_EQ(s.token_id_at(0), c.bos_id);
  EXPECT_EQ(s.token_id_at(b), before.back());
  EXPECT_EQ(s.kind_of(1 + b), PositionKind::kImage);
  EXPECT_EQ(s.token_id_at(1 + b), -1);
  EXPECT_EQ(s.piece_at(1 + b + 5), "");
  EXPECT_EQ(s.patch_at(1 + b), std::make_pair(int64_t{0}, int64_t{0}));
  EXPECT_EQ(s.patch_at(1 + b + 4), std::make_pair(int64_t{1}, int64_t{1}));
  EXPECT_EQ(s.kind_of(1 + b + 6), PositionKind::kText);
  EXPECT_EQ(s.token_id_at(1 + b + 6), after.front());
  EXPECT_EQ(s.kind_of(s.target_begin()), PositionKind::kTarget);
  EXPECT_EQ(s.token_id_at(s.target_begin()), target.front());
  EXPECT_EQ(s.prompt_position(0), 0);
  EXPECT_EQ(s.prompt_position(b), b);
  EXPECT_EQ(s.prompt_position(b + 1), b + 7);
  expect_error([&] { s.patch_at(0); }, {"position 0 is not an image position"});

  // The embeddings: text rows around the image's rows, in sequence order.
  const int64_t t = static_cast<int64_t>(s.text_ids().size());
  const at::Tensor text = at::arange(t, at::kFloat).view({1, t, 1});
  const at::Tensor image = at::full({1, 6, 1}, -1.0f);
  const at::Tensor e = sequence_embeddings(s, text, image);
  ASSERT_EQ(e.size(1), s.length());
  for (int64_t p = 0; p < s.length(); ++p) {
    const float want = s.kind_of(p) == PositionKind::kImage ? -1.0f : static_cast<float>(p < s.image_begin ? p : p - 6);
    EXPECT_EQ(e[0][p][0].item<float>(), want) << p;
  }
  expect_error([&] { sequence_embeddings(s, text, at::zeros({1, 5, 1})); }, {"expected image embeddings [B, 6, D]"});

  // Units in sequence order: the words before, each patch alone, the words after, the target.
  const auto groups = explained_groups(s, Granularity::kWord, tok);
  int64_t next = 0;
  size_t first_patch = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].front() == s.image_begin) first_patch = g;
    for (int64_t p : groups[g]) EXPECT_EQ(p, next++);
    // no group crosses the image
    EXPECT_EQ(s.kind_of(groups[g].front()) == PositionKind::kImage, s.kind_of(groups[g].back()) == PositionKind::kImage);
  }
  EXPECT_EQ(next, s.length());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(groups[first_patch + i], std::vector<int64_t>{s.image_begin + i});
}

TEST(SequenceTest, ImageMarkerAtTheEdgesWithoutImageAndTwice) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  const ModelConfig c = image_config_of(*model, 1, 2);
  // {image} first: after BOS (image first without the marker: before BOS).
  Sequence s = build_sequence(c, tok, "{image} What is it?", " red", 2);
  EXPECT_EQ(s.image_begin, 1);
  EXPECT_EQ(s.prompt_ids.size(), 1 + tok.encode(" What is it?").size());
  s = build_sequence(c, tok, "What is it?", " red", 2);
  EXPECT_EQ(s.image_begin, 0);
  EXPECT_EQ(s.kind_of(0), PositionKind::kImage);
  EXPECT_EQ(s.token_id_at(2), c.bos_id);
  // {image} last: the target follows the image directly.
  s = build_sequence(c, tok, "What is it? {image}", " red", 2);
  EXPECT_EQ(s.image_end(), s.target_begin());
  EXPECT_EQ(explained_groups(s, Granularity::kToken, tok).size(), static_cast<size_t>(s.length()));
  // {image} with no image: it stands for nothing; each part is still encoded on its own.
  s = build_sequence(c, tok, "USER: {image}\nWhat?", " red", 0);
  std::vector<int64_t> want{c.bos_id};
  for (const char* part : {"USER: ", "\nWhat?"}) {
    const auto ids = tok.encode(part);
    want.insert(want.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(s.prompt_ids, want);
  EXPECT_EQ(s.image_positions, 0);
  // A text-only model reads {image} as text.
  s = build_sequence(model->config(), tok, "a {image} b", " red", 0);
  EXPECT_EQ(s.image_marker, std::string::npos);
  // Twice: one line.
  expect_error([&] { build_sequence(c, tok, "{image} and {image}", " red", 2); },
               {"prompt \"{image} and {image}\" contains {image} more than once (at most once: docs/contract.md)"});
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
