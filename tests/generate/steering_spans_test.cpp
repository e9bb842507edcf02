// The spans of steered generation (generate/steering_spans.h,
// docs/steering.md): repeated words, indices and image rectangles resolved to
// positions, and bad spans refused with one line.
#include "atman/generate/steering_spans.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::test_model;

const char kStory[] = "Alice met Bob. Alice likes Bob and apples. Alicea sings.";

std::string joined_pieces(const SteeringPrompt& p, const std::vector<int64_t>& positions) {
  std::string out;
  for (int64_t pos : positions) {
    for (size_t n = 0; n < p.text_ids.size(); ++n) {
      if (p.text_position(static_cast<int64_t>(n)) == pos) out += p.pieces[n];
    }
  }
  return out;
}

class SteeringSpanTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    text_ = Model::load(test_model("text_only.pt"));
    image_ = Model::load(test_model("image_text.pt"));
  }
  static std::shared_ptr<Model> text_, image_;
};
std::shared_ptr<Model> SteeringSpanTest::text_, SteeringSpanTest::image_;

TEST_F(SteeringSpanTest, RepeatedWordsEveryOccurrenceAndTheKth) {
  const SteeringPrompt p = build_steering_prompt(*text_, kStory, 0);
  const Tokenizer& tok = text_->tokenizer();
  const auto all = resolve_span(p, tok, "Alice");
  const auto first = resolve_span(p, tok, "Alice@1");
  const auto second = resolve_span(p, tok, "Alice@2");
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  EXPECT_LT(first.back(), second.front());
  std::vector<int64_t> both = first;
  both.insert(both.end(), second.begin(), second.end());
  EXPECT_EQ(all, both);  // "Alicea" is not a whole-word occurrence
  EXPECT_EQ(joined_pieces(p, first), "\xe2\x96\x81" "Alice") << joined_pieces(p, first);
  EXPECT_EQ(joined_pieces(p, first), joined_pieces(p, second));
  EXPECT_EQ(resolve_span(p, tok, " Alice"), second);  // the space before a word belongs to its first piece
  EXPECT_EQ(resolve_span(p, tok, "Bob and").front(), resolve_span(p, tok, "Bob@2").front());
  EXPECT_NE(resolve_span(p, tok, "Bob@1"), resolve_span(p, tok, "Bob@2"));
  expect_error([&] { resolve_span(p, tok, "Alice@3"); }, {"span \"Alice@3\": the prompt has 2 occurrence(s) of \"Alice\""});
  expect_error([&] { resolve_span(p, tok, "Ali"); }, {"span \"Ali\": not found in the prompt as whole words"});
  expect_error([&] { resolve_span(p, tok, "Zed"); }, {"span \"Zed\": not found in the prompt"});
  expect_error([&] { resolve_span(p, tok, "Alice@0"); }, {"@k counts from 1"});
  expect_error([&] { resolve_span(p, tok, ""); }, {"span is empty"});
  // A span that looks like no known form is text, and refused when absent.
  expect_error([&] { resolve_span(p, tok, "pixel:3"); }, {"span \"pixel:3\": not found in the prompt"});
}

TEST_F(SteeringSpanTest, TokenWordSentenceIndices) {
  const SteeringPrompt p = build_steering_prompt(*text_, kStory, 0);
  const Tokenizer& tok = text_->tokenizer();
  ASSERT_TRUE(text_->config().add_bos);
  EXPECT_EQ(resolve_span(p, tok, "token:1"), std::vector<int64_t>{1});  // BOS (position 0) is not counted
  EXPECT_EQ(resolve_span(p, tok, "word:1"), resolve_span(p, tok, "Alice@1"));
  EXPECT_EQ(resolve_span(p, tok, "word:2"), resolve_span(p, tok, "met"));
  const auto bob = resolve_span(p, tok, "Bob@1");
  const auto word3 = resolve_span(p, tok, "word:3");  // "Bob." with its period
  EXPECT_EQ(std::vector<int64_t>(word3.begin(), word3.begin() + bob.size()), bob);
  const auto s1 = resolve_span(p, tok, "sentence:1");
  const auto s2 = resolve_span(p, tok, "sentence:2");
  EXPECT_EQ(s1.front(), 1);
  EXPECT_EQ(s2.front(), s1.back() + 1);
  EXPECT_EQ(joined_pieces(p, s1), "\xe2\x96\x81" "Alice\xe2\x96\x81" "met\xe2\x96\x81" "Bob.") << joined_pieces(p, s1);
  expect_error([&] { resolve_span(p, tok, "sentence:4"); }, {"span \"sentence:4\": the prompt has 3 sentence(s)"});
  expect_error([&] { resolve_span(p, tok, "word:0"); }, {"span \"word:0\": expected word:k with k >= 1 (1-based)"});
  expect_error([&] { resolve_span(p, tok, "token:x"); }, {"expected token:k"});
  expect_error([&] { resolve_span(p, tok, "image"); }, {"span \"image\": there is no image"});
  expect_error([&] { resolve_span(p, tok, "image:0,0,0,0"); }, {"there is no image"});
}

TEST_F(SteeringSpanTest, ImageRectanglesInclusiveAndOutOfRangeRefused) {
  const ImageConfig& ic = *image_->config().image;
  const SteeringPrompt p = build_steering_prompt(*image_, "Question: What color is the circle? Answer:", ic.patches());
  const Tokenizer& tok = image_->tokenizer();
  ASSERT_EQ(ic.grid_rows, 12);
  ASSERT_EQ(ic.grid_cols, 12);
  EXPECT_EQ(p.image_begin, 0);
  const auto all = resolve_span(p, tok, "image");
  ASSERT_EQ(static_cast<int64_t>(all.size()), ic.patches());
  EXPECT_EQ(all.front(), 0);
  EXPECT_EQ(resolve_span(p, tok, "image:0,0,1,2"), (std::vector<int64_t>{0, 1, 2, 12, 13, 14}));
  EXPECT_EQ(resolve_span(p, tok, "image:11,11,11,11"), std::vector<int64_t>{143});
  // Text positions come after the 144 patches.
  EXPECT_EQ(resolve_span(p, tok, "token:1"), std::vector<int64_t>{145});
  EXPECT_GE(resolve_span(p, tok, "circle").front(), 144);
  const std::string range = "needs 0 <= r0 <= r1 <= 11 and 0 <= c0 <= c1 <= 11 (the 12x12 patch grid, both ends inclusive)";
  expect_error([&] { resolve_span(p, tok, "image:0,0,12,3"); }, {"span \"image:0,0,12,3\": " + range});
  expect_error([&] { resolve_span(p, tok, "image:0,0,3,12"); }, {range});
  expect_error([&] { resolve_span(p, tok, "image:4,0,3,1"); }, {range});
  expect_error([&] { resolve_span(p, tok, "image:1,2,3"); }, {"expected image:r0,c0,r1,c1 (four integers >= 0), got 3 number(s)"});
  expect_error([&] { resolve_span(p, tok, "image:-1,0,1,1"); }, {"expected image:r0,c0,r1,c1"});
  expect_error([&] { resolve_span(p, tok, "image:a,b,c,d"); }, {"expected image:r0,c0,r1,c1"});
}

}  // namespace
}  // namespace atman
