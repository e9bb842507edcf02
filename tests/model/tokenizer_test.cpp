#include "atman/model/tokenizer.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

Tokenizer project_tokenizer() {
  const std::string path = testing::source_path("torchscript_models/tokenizer.model");
  return Tokenizer::from_serialized(testing::read_file(path), path);
}

TEST(TokenizerTest, EncodesDecodesAndKeepsPieces) {
  const Tokenizer tok = project_tokenizer();
  const std::string text = "What color is the circle?";
  const auto ids = tok.encode(text);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(tok.decode(ids), text);
  const auto pieces = tok.pieces(ids);
  ASSERT_EQ(pieces.size(), ids.size());
  EXPECT_EQ(pieces[0].rfind("\xe2\x96\x81", 0), 0u) << pieces[0];  // "▁What..."
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, "\xe2\x96\x81What\xe2\x96\x81" "color\xe2\x96\x81is\xe2\x96\x81the\xe2\x96\x81" "circle?");
  EXPECT_TRUE(tok.is_special(1));  // <s>
  EXPECT_FALSE(tok.is_special(ids[0]));
  for (int64_t id : ids) EXPECT_EQ(tok.vocab_piece(id), tok.piece(id));  // sentencepiece: the same
}

TEST(TokenizerTest, RejectsInvalidUtf8AndBadIds) {
  const Tokenizer tok = project_tokenizer();
  expect_error([&] { tok.encode("bad \xff byte"); }, {"not valid UTF-8"});
  expect_error([&] { tok.encode("\xc3"); }, {"not valid UTF-8"});
  expect_error([&] { tok.piece(-1); }, {"token id -1 is outside"});
  expect_error([&] { tok.piece(tok.vocab_size()); }, {"is outside the tokenizer's"});
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x96\x81"));
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));  // surrogate
}

TEST(TokenizerTest, RejectsNonSentencepieceBytes) {
  expect_error([] { Tokenizer::from_serialized("", "m.pt"); }, {"m.pt: atman/tokenizer.model is empty"});
  expect_error([] { Tokenizer::from_serialized("\x01garbage", "m.pt"); },
               {"m.pt: atman/tokenizer.model is not a valid sentencepiece model"});
  Tokenizer empty;
  EXPECT_THROW(empty.encode("x"), std::logic_error);
}

}  // namespace
}  // namespace atman
