// The tokenizer.json backend, component by component, on small hand-written
// tokenizers whose results are worked out by hand (Hugging Face tokenizers'
// semantics); every load error has its line checked.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "atman/model/hf_tokenizer/byte_level.h"
#include "atman/model/hf_tokenizer/normalized_text.h"
#include "atman/model/hf_tokenizer/normalizers.h"
#include "atman/model/hf_tokenizer/pre_tokenizers.h"
#include "atman/model/tokenizer.h"
#include "test_util.h"

namespace atman {
namespace {

using nlohmann::json;
using testing::expect_error;

const std::string kMark = "\xe2\x96\x81";  // ▁

// A byte-level BPE like GPT-2's, small: ids 0..255 are the bytes (id = byte
// value, as their byte-level characters), then "Ġr", "Ġre", "Ġred", "<|eot|>".
json byte_level_tokenizer() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[hf::byte_to_char(static_cast<uint8_t>(b))] = b;
  vocab["\xc4\xa0r"] = 256;
  vocab["\xc4\xa0re"] = 257;
  vocab["\xc4\xa0red"] = 258;
  return json{
      {"added_tokens", json::array({{{"id", 259}, {"content", "<|eot|>"}, {"special", true}, {"normalized", false}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"merges", json::array({"\xc4\xa0 r", json::array({"\xc4\xa0r", "e"}), "\xc4\xa0re d"})}}}};
}

// A byte-fallback BPE like Gemma's: spaces become ▁ (normalizer), pieces are
// "▁red", "<0xNN>".
json byte_fallback_tokenizer() {
  json vocab = {{"<unk>", 0}, {"<bos>", 1}, {kMark, 2}, {"r", 3}, {"e", 4}, {"d", 5}, {kMark + "r", 6},
                {kMark + "re", 7}, {kMark + "red", 8}, {"\n", 9}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 10 + b;
  }
  return json{
      {"added_tokens", json::array({{{"id", 1}, {"content", "<bos>"}, {"special", true}}})},
      {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kMark}}},
      {"pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "MergedWithPrevious"}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kMark}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}}})}}},
      {"model",
       {{"type", "BPE"},
        {"vocab", vocab},
        {"unk_token", "<unk>"},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"merges", json::array({json::array({kMark, "r"}), json::array({kMark + "r", "e"}),
                                json::array({kMark + "re", "d"})})}}}};
}

// A character BPE over "abc" with the given merges and model options.
json abc_tokenizer(const json& merges, const json& options = json::object()) {
  json model = {{"type", "BPE"},
                {"vocab", {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}, {"<unk>", 7}}},
                {"merges", merges}};
  model.update(options);
  return json{{"model", model}};
}

Tokenizer load(const json& config) { return Tokenizer::from_hf_json(config.dump(), "m.pt"); }

std::vector<std::string> split_with(const json& pre_tokenizer, const std::string& text) {
  auto pre = hf::make_pre_tokenizer(pre_tokenizer);
  std::vector<hf::NormalizedText> pieces{hf::NormalizedText::original(text, 0, text.size())};
  pre->pre_tokenize(pieces);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(p.text);
  return out;
}

TEST(HfTokenizerTest, ByteTableIsGpt2s) {
  EXPECT_EQ(hf::byte_to_char(' '), "\xc4\xa0");    // U+0120 Ġ
  EXPECT_EQ(hf::byte_to_char('\n'), "\xc4\x8a");   // U+010A Ċ
  EXPECT_EQ(hf::byte_to_char(0x00), "\xc4\x80");   // U+0100
  EXPECT_EQ(hf::byte_to_char(0x7F), "\xc4\xa1");   // U+0121: the 34 bytes 0x7F..0xA0 follow the 33 below '!'
  EXPECT_EQ(hf::byte_to_char(0xAD), "\xc5\x83");   // U+0143, the last one
  EXPECT_EQ(hf::byte_to_char('a'), "a");
  EXPECT_EQ(hf::byte_to_char(0xE9), "\xc3\xa9");   // printable Latin-1 stands for itself
  EXPECT_EQ(hf::char_to_byte(0x143), 0xAD);
  EXPECT_EQ(hf::char_to_byte(0x2581), -1);
  std::string bytes;
  ASSERT_TRUE(hf::byte_level_to_bytes("\xc4\xa0hi\xc4\x8a", &bytes));
  EXPECT_EQ(bytes, " hi\n");
  EXPECT_FALSE(hf::byte_level_to_bytes(kMark, &bytes));
}

TEST(HfTokenizerTest, SplitBehaviours) {
  auto split = [](const std::string& behavior, bool invert = false) {
    return split_with({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}},
                      "a-b--c");
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(split("Isolated"), (V{"a", "-", "b", "-", "-", "c"}));
  EXPECT_EQ(split("Removed"), (V{"a", "b", "c"}));
  EXPECT_EQ(split("MergedWithPrevious"), (V{"a-", "b-", "-", "c"}));
  EXPECT_EQ(split("MergedWithNext"), (V{"a", "-b", "-", "-c"}));
  EXPECT_EQ(split("Contiguous"), (V{"a", "-", "b", "--", "c"}));
  EXPECT_EQ(split("Removed", true), (V{"-", "-", "-"}));
  // Regex patterns (Oniguruma): \p{L}, case-insensitive contractions, \s+(?!\S).
  const json llama3 = {{"type", "Split"},
                       {"pattern",
                        {{"Regex",
                          "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
                       {"behavior", "Isolated"}};
  EXPECT_EQ(split_with(llama3, "DON'T  go 12345"), (V{"DON", "'T", " ", " go", " ", "123", "45"}));
  EXPECT_EQ(split_with(llama3, "we'Ll\n\n x"), (V{"we", "'Ll", "\n\n", " x"}));
  EXPECT_EQ(split_with({{"type", "Split"}, {"pattern", {{"Regex", "\\d"}}}, {"behavior", "Isolated"}, {"invert", true}},
                       "ab12c"),
            (V{"ab", "1", "2", "c"}));
  EXPECT_EQ(split_with({{"type", "ByteLevel"}, {"add_prefix_space", true}}, "hi  there"),
            (V{"\xc4\xa0hi", "\xc4\xa0", "\xc4\xa0there"}));
  EXPECT_EQ(split_with({{"type", "Metaspace"}, {"replacement", kMark}, {"prepend_scheme", "always"}}, "a b"),
            (V{kMark + "a", kMark + "b"}));
}

TEST(HfTokenizerTest, BpeAppliesMergesByRankThenLeftmost) {
  // "b c" ranks before "a b": abc -> a|bc -> abc (via "a bc").
  EXPECT_EQ(load(abc_tokenizer({"b c", "a b", "a bc"})).encode("abc"), (std::vector<int64_t>{5}));
  // "a b" first: abc -> ab|c, and with no "ab c" merge it stays there.
  EXPECT_EQ(load(abc_tokenizer({"a b", "b c", "a bc"})).encode("abc"), (std::vector<int64_t>{3, 2}));
  // Equal ranks: the leftmost pair merges first: aaa -> aa|a.
  EXPECT_EQ(load(abc_tokenizer({"a a"})).encode("aaa"), (std::vector<int64_t>{6, 0}));
  EXPECT_EQ(load(abc_tokenizer(json::array())).encode("abc"), (std::vector<int64_t>{0, 1, 2}));
  // ignore_merges: a word that is in the vocabulary is one token, merges or not.
  EXPECT_EQ(load(abc_tokenizer(json::array(), {{"ignore_merges", true}})).encode("abc"), (std::vector<int64_t>{5}));
  // unk_token, fused or not; unknown characters without unk_token are dropped.
  EXPECT_EQ(load(abc_tokenizer(json::array(), {{"unk_token", "<unk>"}})).encode("axyb"),
            (std::vector<int64_t>{0, 7, 7, 1}));
  EXPECT_EQ(load(abc_tokenizer(json::array(), {{"unk_token", "<unk>"}, {"fuse_unk", true}})).encode("axyb"),
            (std::vector<int64_t>{0, 7, 1}));
  EXPECT_EQ(load(abc_tokenizer(json::array())).encode("axb"), (std::vector<int64_t>{0, 1}));
  // continuing_subword_prefix / end_of_word_suffix take part in lookups and merges.
  const json prefixed = {{"model",
                          {{"type", "BPE"},
                           {"vocab", {{"a", 0}, {"##b", 1}, {"ab", 2}}},
                           {"continuing_subword_prefix", "##"},
                           {"merges", {"a ##b"}}}}};
  EXPECT_EQ(load(prefixed).encode("ab"), (std::vector<int64_t>{2}));
  const json suffixed = {{"model",
                          {{"type", "BPE"},
                           {"vocab", {{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}}},
                           {"end_of_word_suffix", "</w>"},
                           {"merges", {"a b</w>"}}}}};
  EXPECT_EQ(load(suffixed).encode("ab"), (std::vector<int64_t>{2}));
}

TEST(HfTokenizerTest, ByteLevelPiecesOffsetsAndDecode) {
  const Tokenizer tok = load(byte_level_tokenizer());
  EXPECT_EQ(tok.vocab_size(), 260);
  EXPECT_EQ(tok.encode(" red"), (std::vector<int64_t>{258}));
  EXPECT_EQ(tok.vocab_piece(258), "\xc4\xa0red");
  EXPECT_EQ(tok.piece(258), kMark + "red");
  EXPECT_EQ(tok.piece('\n'), "\n");
  EXPECT_EQ(tok.piece(0xC3), "<0xC3>");  // half of a character
  EXPECT_EQ(tok.vocab_piece(0xC3), "\xc3\x83");
  EXPECT_EQ(tok.piece(259), "<|eot|>");
  EXPECT_TRUE(tok.is_special(259));
  EXPECT_FALSE(tok.is_special(258));
  // "hi red\né": words "hi", " red", "\n", "é"; é's two bytes both cover the whole character.
  const std::string text = "hi red\n\xc3\xa9<|eot|>";
  const auto spans = tok.encode_with_offsets(text);
  const std::vector<TokenSpan> expected = {{'h', 0, 1},   {'i', 1, 2},   {258, 2, 6},  {'\n', 6, 7},
                                           {0xC3, 7, 9},  {0xA9, 7, 9},  {259, 9, 16}};
  ASSERT_EQ(spans.size(), expected.size());
  for (size_t k = 0; k < spans.size(); ++k) {
    EXPECT_EQ(spans[k].id, expected[k].id) << k;
    EXPECT_EQ(spans[k].begin, expected[k].begin) << k;
    EXPECT_EQ(spans[k].end, expected[k].end) << k;
  }
  // Decode: the byte-level decoder, special tokens dropped.
  EXPECT_EQ(tok.decode(tok.encode(text)), "hi red\n\xc3\xa9");
  EXPECT_EQ(tok.decode({0xC3}), "\xef\xbf\xbd");  // a lone lead byte: U+FFFD
  EXPECT_TRUE(tok.encode("").empty());
}

TEST(HfTokenizerTest, ByteFallbackTokenizerLikeGemma) {
  const Tokenizer tok = load(byte_fallback_tokenizer());
  // " red" -> "▁red"; "é" is not in the vocabulary: its bytes.
  EXPECT_EQ(tok.encode(" red"), (std::vector<int64_t>{8}));
  EXPECT_EQ(tok.encode("r\xc3\xa9"), (std::vector<int64_t>{3, 10 + 0xC3, 10 + 0xA9}));
  EXPECT_EQ(tok.piece(8), kMark + "red");
  EXPECT_EQ(tok.vocab_piece(8), kMark + "red");
  EXPECT_EQ(tok.piece(10 + 0x0A), "<0x0A>");
  EXPECT_EQ(tok.decode({1, 8, 10 + 0xC3, 10 + 0xA9, 9}), " red\xc3\xa9\n");
  EXPECT_EQ(tok.decode({10 + 0xC3}), "\xef\xbf\xbd");
  // Split on " " finds nothing after the normalizer: the text is one word.
  EXPECT_EQ(tok.encode("red red"), (std::vector<int64_t>{3, 4, 5, 8}));
  // Offsets through the Replace normalizer: "▁" (3 bytes) stands for the 1-byte space.
  const auto spans = tok.encode_with_offsets("r red");
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[1].id, 8);
  EXPECT_EQ(spans[1].begin, 1);
  EXPECT_EQ(spans[1].end, 5);
  EXPECT_EQ(tok.encode("<bos>red"), (std::vector<int64_t>{1, 3, 4, 5}));
}

TEST(HfTokenizerTest, AddedTokenFlags) {
  auto with_added = [](json token) {
    json config = abc_tokenizer(json::array({"a b"}));
    config["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}};
    token["id"] = 10;
    config["added_tokens"] = json::array({token});
    return load(config);
  };
  // Longest match wins, matched before the model (even inside a word).
  EXPECT_EQ(with_added({{"content", "<x>"}}).encode("ab<x>ab"), (std::vector<int64_t>{3, 10, 3}));
  // lstrip / rstrip take the whitespace beside the token into its span.
  const auto l = with_added({{"content", "<x>"}, {"lstrip", true}}).encode_with_offsets("a  <x> b");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[1].id, 10);
  EXPECT_EQ(l[1].begin, 1);
  EXPECT_EQ(l[1].end, 6);
  const auto r = with_added({{"content", "<x>"}, {"rstrip", true}}).encode_with_offsets("a <x>  b");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[1].begin, 2);
  EXPECT_EQ(r[1].end, 7);
  // single_word: not inside a word.
  const Tokenizer single = with_added({{"content", "ab"}, {"single_word", true}});
  EXPECT_EQ(single.encode("ab cab abc ab"), (std::vector<int64_t>{10, 2, 3, 3, 2, 10}));
  // normalized: matched in the normalized text (here NFC: the decomposed é matches).
  json config = abc_tokenizer(json::array());
  config["normalizer"] = {{"type", "NFC"}};
  config["added_tokens"] = json::array({{{"id", 11}, {"content", "\xc3\xa9"}, {"normalized", true}},
                                        {{"id", 12}, {"content", "c\xcc\x81"}, {"normalized", false}}});
  const Tokenizer nfc = load(config);
  EXPECT_EQ(nfc.encode("ae\xcc\x81"), (std::vector<int64_t>{0, 11}));
  EXPECT_EQ(nfc.encode("c\xcc\x81"), (std::vector<int64_t>{12}));  // not normalized: matched in the original text
  EXPECT_FALSE(nfc.is_special(11));
  EXPECT_EQ(nfc.decode({0, 11}), "a \xc3\xa9");  // no decoder: tokens joined with spaces
}

TEST(HfTokenizerTest, NfcOffsetsCoverTheComposedCharacters) {
  json config = byte_level_tokenizer();
  config["normalizer"] = {{"type", "Sequence"},
                          {"normalizers", json::array({{{"type", "NFC"}}, {{"type", "Prepend"}, {"prepend", "x"}}})}};
  const Tokenizer tok = load(config);
  // "e + U+0301" is one chunk that becomes "é" (C3 A9); the prepended "x" maps to the first character.
  const auto spans = tok.encode_with_offsets("e\xcc\x81z");
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans[0].id, 'x');
  EXPECT_EQ(spans[0].begin, 0);
  EXPECT_EQ(spans[1].id, 0xC3);
  EXPECT_EQ(spans[1].begin, 0);
  EXPECT_EQ(spans[1].end, 3);
  EXPECT_EQ(spans[2].id, 0xA9);
  EXPECT_EQ(spans[3].id, 'z');
  EXPECT_EQ(spans[3].begin, 3);
  EXPECT_EQ(spans[3].end, 4);
  EXPECT_EQ(hf::nfc("e\xcc\x81"), "\xc3\xa9");
  EXPECT_EQ(hf::nfc("\xe1\x84\x80\xe1\x85\xa1"), "\xea\xb0\x80");  // Hangul L + V -> 가
}

TEST(HfTokenizerTest, DecoderChain) {
  json config = abc_tokenizer(json::array());
  config["decoder"] = {{"type", "Strip"}, {"content", "a"}, {"start", 1}, {"stop", 0}};
  EXPECT_EQ(load(config).decode({0, 1, 0}), "b");  // each token loses one leading "a"
  config["decoder"] = {{"type", "Sequence"},
                       {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "b"}}}, {"content", "B"}},
                                                 {{"type", "Fuse"}}})}};
  EXPECT_EQ(load(config).decode({0, 1, 2}), "aBc");
  config["decoder"] = {{"type", "Metaspace"}, {"replacement", "a"}, {"prepend_scheme", "always"}};
  EXPECT_EQ(load(config).decode({0, 1, 0, 2}), "b c");
}

TEST(HfTokenizerTest, ConcurrentEncodesAgree) {
  const Tokenizer tok = load(byte_level_tokenizer());
  const std::string text = "hi red, red reds\n red!";
  const auto expected = tok.encode(text);
  json split_config = byte_level_tokenizer();
  split_config["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", json::array({{{"type", "Split"}, {"pattern", {{"Regex", "\\p{L}+|\\s+"}}}, {"behavior", "Isolated"}},
                                     {{"type", "ByteLevel"}, {"use_regex", false}}})}};
  const auto split_expected = load(split_config).encode(text);
  EXPECT_NE(split_expected, expected);  // " red" is two words here
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 200; ++k) same[t] += tok.encode(text) == expected;
      // Loading (Oniguruma compiles the pattern) in several threads at once.
      for (int k = 0; k < 20; ++k) same[t] += load(split_config).encode(text) == split_expected;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(same[t], 220);
}

TEST(HfTokenizerTest, RefusesUnsupportedTokenizersWithOneLine) {
  const std::string p = "m.pt: atman/tokenizer.json";
  auto refuse = [](const json& config, const std::string& line) {
    expect_error([&] { Tokenizer::from_hf_json(config.dump(), "m.pt"); }, {line});
  };
  expect_error([] { Tokenizer::from_hf_json("", "m.pt"); }, {p + " is empty"});
  expect_error([] { Tokenizer::from_hf_json("{nope", "m.pt"); }, {p + " is not valid JSON ("});
  expect_error([] { Tokenizer::from_hf_json("1e999", "m.pt"); }, {p + " is not valid JSON (", "number overflow"});
  refuse(json::array(), p + ": the top level must be an object");
  refuse(json::object(), p + ": \"model\" is missing");
  refuse({{"model", {{"type", "WordPiece"}, {"vocab", json::object()}}}},
         p + ": model type \"WordPiece\" is not supported (supported: BPE)");
  refuse({{"model", {{"type", "Unigram"}, {"vocab", json::array()}}}},
         p + ": model type \"Unigram\" is not supported (supported: BPE)");
  refuse(abc_tokenizer(json::array(), {{"dropout", 0.1}}), p + ": model BPE: dropout 0.1 is not supported (must be null)");
  refuse(abc_tokenizer({"a z"}), p + ": model BPE: merge 0 \"a z\" names \"z\", which is not in the vocabulary");
  refuse(abc_tokenizer({"a b", json::array({"c", "a"})}),
         p + ": model BPE: merge 1 [\"c\",\"a\"] makes \"ca\", which is not in the vocabulary");
  refuse(abc_tokenizer({"a b c"}), p + ": model BPE: merge 0 \"a b c\" is not two pieces separated by one space");
  refuse(abc_tokenizer({7}), p + ": model BPE: merge 0 must be \"a b\" or [\"a\", \"b\"], got 7");
  refuse(abc_tokenizer(json::array(), {{"unk_token", "<nope>"}}),
         p + ": model BPE: unk_token \"<nope>\" is not in the vocabulary");
  refuse(abc_tokenizer(json::array(), {{"vocab", {{"a", -1}}}}),
         p + ": model BPE: vocabulary id of \"a\" must be an integer >= 0, got -1");
  json c = abc_tokenizer(json::array());
  c["normalizer"] = {{"type", "Lowercase"}};
  refuse(c, p + ": normalizer type \"Lowercase\" is not supported (supported: NFC, Replace, Prepend, Sequence)");
  c = abc_tokenizer(json::array());
  c["pre_tokenizer"] = {{"type", "Whitespace"}};
  refuse(c, p + ": pre_tokenizer type \"Whitespace\" is not supported (supported: Split, ByteLevel, Metaspace, "
                "Sequence)");
  c["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  refuse(c, p + ": pre_tokenizer Split: invalid regex \"(unclosed\" (end pattern with unmatched parenthesis)");
  c["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}};
  refuse(c, p + ": pre_tokenizer Split: behavior \"Sideways\" is not supported (supported: Removed, Isolated, "
                "MergedWithPrevious, MergedWithNext, Contiguous)");
  c["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Glob", "*"}}}, {"behavior", "Isolated"}};
  refuse(c, p + ": pre_tokenizer Split: \"pattern\" must be {\"String\": ...} or {\"Regex\": ...}, got {\"Glob\":\"*\"}");
  c["pre_tokenizer"] = {{"type", "Split"}, {"behavior", "Isolated"}};
  refuse(c, p + ": pre_tokenizer Split is malformed (");
  c = abc_tokenizer(json::array());
  c["decoder"] = {{"type", "WordPiece"}};
  refuse(c, p + ": decoder type \"WordPiece\" is not supported (supported: ByteLevel, Replace, ByteFallback, Fuse, "
                "Strip, Metaspace, Sequence)");
  c = abc_tokenizer(json::array());
  c["added_tokens"] = json::array({{{"id", 3}}});
  refuse(c, p + ": added_tokens: each entry needs an integer \"id\" >= 0 and a string \"content\", got {\"id\":3}");
}

TEST(HfTokenizerTest, FacadeChecksIdsAndUtf8) {
  const Tokenizer tok = load(byte_level_tokenizer());
  expect_error([&] { tok.piece(260); }, {"token id 260 is outside the tokenizer's 260 pieces"});
  expect_error([&] { tok.vocab_piece(-1); }, {"token id -1 is outside"});
  expect_error([&] { tok.decode({999}); }, {"token id 999 is outside"});
  expect_error([&] { tok.encode("bad \xff"); }, {"not valid UTF-8"});
  Tokenizer empty;
  expect_error([&] { empty.vocab_piece(0); }, {"Tokenizer: used before from_serialized or from_hf_json"});
}

}  // namespace
}  // namespace atman
