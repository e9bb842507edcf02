// atman's tokenizer.json backend against references it did not write:
// Hugging Face's JavaScript tokenizers on the real Llama-3, Qwen3 and Gemma-3
// tokenizer.json files, and tiktoken's gpt2 encoding (tests/tokenizers/).
// The ctest fixture tokenizer_references (tests/tokenizers/make_references.sh)
// installs them into the build folder and writes the expected ids; without
// its files these tests fail, they never skip. Exact ids, no tolerance.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/normalizers.h"
#include "atman/model/tokenizer.h"
#include "test_util.h"

namespace atman {
namespace {

using nlohmann::json;

std::string reference_file(const std::string& name) {
  const std::string path = std::string(ATMAN_TOKENIZER_REFERENCES) + "/" + name;
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << path << " is missing: run the ctest fixture tokenizer_references "
                  << "(ctest -R tokenizer_references, or tests/tokenizers/make_references.sh "
                  << ATMAN_TOKENIZER_REFERENCES << ")";
    return {};
  }
  return testing::read_file(path);
}

// What decode(encode(s)) gives back: s up to the tokenizer's normalizer.
std::string normalized(const std::string& name, const std::string& text) {
  if (name == "qwen3") return hf::nfc(text);
  return text;
}

class HfTokenizerAgreementTest : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizerAgreementTest, IdsEqualTheReferenceIdForId) {
  const std::string name = GetParam();
  const std::string strings_text = testing::read_file(testing::source_path("tests/tokenizers/strings.json"));
  const std::string tokenizer_json = reference_file(name + ".tokenizer.json");
  const std::string expected_text = reference_file(name + ".expected.json");
  ASSERT_FALSE(tokenizer_json.empty() || expected_text.empty());
  const json strings = json::parse(strings_text);
  const json expected = json::parse(expected_text);
  ASSERT_EQ(expected.at("ids").size(), strings.size()) << "stale references: rerun the fixture";
  const Tokenizer tok = Tokenizer::from_hf_json(tokenizer_json, name + ".tokenizer.json");

  size_t same_ids = 0, same_decoded = 0, round_trips = 0, round_trip_total = 0;
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string text = strings[i].get<std::string>();
    const std::vector<int64_t> want = expected["ids"][i].get<std::vector<int64_t>>();
    const std::vector<int64_t> got = tok.encode(text);
    if (got == want) {
      ++same_ids;
    } else {
      ADD_FAILURE() << name << ": string " << i << " " << json(text).dump() << "\n  atman: " << json(got).dump()
                    << "\n  reference: " << json(want).dump();
    }
    const std::string decoded = tok.decode(want);
    if (decoded == expected["decoded"][i].get<std::string>()) {
      ++same_decoded;
    } else {
      ADD_FAILURE() << name << ": decode of string " << i << " " << json(text).dump() << " gave "
                    << json(decoded).dump() << ", the reference " << expected["decoded"][i].dump();
    }
    // The spans: same ids as encode(), inside the text, in order, covering every byte.
    const std::vector<TokenSpan> spans = tok.encode_with_offsets(text);
    ASSERT_EQ(spans.size(), got.size()) << name << ": string " << i;
    std::vector<bool> covered(text.size(), false);
    int64_t previous_begin = 0;
    for (size_t k = 0; k < spans.size(); ++k) {
      EXPECT_EQ(spans[k].id, got[k]) << name << ": string " << i << " token " << k;
      EXPECT_LE(0, spans[k].begin);
      EXPECT_LE(spans[k].begin, spans[k].end);
      EXPECT_LE(spans[k].end, static_cast<int64_t>(text.size()));
      EXPECT_GE(spans[k].begin, previous_begin) << name << ": string " << i << " token " << k;
      previous_begin = spans[k].begin;
      for (int64_t b = spans[k].begin; b < spans[k].end; ++b) covered[static_cast<size_t>(b)] = true;
    }
    for (size_t b = 0; b < text.size(); ++b) {
      EXPECT_TRUE(covered[b]) << name << ": string " << i << " byte " << b << " is in no token's span";
    }
    bool has_special = false;
    for (int64_t id : got) has_special = has_special || tok.is_special(id);
    if (!has_special) {
      ++round_trip_total;
      if (tok.decode(got) == normalized(name, text)) {
        ++round_trips;
      } else {
        ADD_FAILURE() << name << ": decode(encode(s)) != s for string " << i << " " << json(text).dump();
      }
    }
  }
  std::cout << "[ agreement ] " << name << ": ids " << same_ids << "/" << strings.size() << ", decode "
            << same_decoded << "/" << strings.size() << ", round trip " << round_trips << "/" << round_trip_total
            << std::endl;
  RecordProperty("same_ids", static_cast<int>(same_ids));
  EXPECT_EQ(same_ids, strings.size());
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, HfTokenizerAgreementTest,
                         ::testing::Values("llama3", "qwen3", "gemma3", "gpt2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// The pieces atman shows (sentencepiece's convention) on the real tokenizers.
TEST(HfTokenizerAgreementTest, PiecesFollowSentencepiecesConvention) {
  const Tokenizer llama = Tokenizer::from_hf_json(reference_file("llama3.tokenizer.json"), "llama3");
  const auto ids = llama.encode("<|begin_of_text|>Hello red\n\xc3\xa9");
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 128000);
  EXPECT_TRUE(llama.is_special(128000));
  EXPECT_EQ(llama.piece(128000), "<|begin_of_text|>");
  const auto red = llama.encode(" red");
  ASSERT_EQ(red.size(), 1u);
  EXPECT_EQ(llama.vocab_piece(red[0]), "\xc4\xa0red");
  EXPECT_EQ(llama.piece(red[0]), "\xe2\x96\x81red");
  EXPECT_EQ(llama.piece(llama.encode("\n")[0]), "\n");
  const Tokenizer gemma = Tokenizer::from_hf_json(reference_file("gemma3.tokenizer.json"), "gemma3");
  const auto g = gemma.encode(" red");
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(gemma.piece(g[0]), gemma.vocab_piece(g[0]));
  EXPECT_EQ(gemma.piece(g[0]), "\xe2\x96\x81red");
  const Tokenizer qwen = Tokenizer::from_hf_json(reference_file("qwen3.tokenizer.json"), "qwen3");
  const auto q = qwen.encode("<|im_start|>user");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_TRUE(qwen.is_special(q[0]));
  EXPECT_FALSE(qwen.is_special(q[1]));
}

}  // namespace
}  // namespace atman
