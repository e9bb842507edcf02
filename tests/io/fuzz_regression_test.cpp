// Regressions found by the fuzzers (tests/fuzz/): every file in
// tests/fuzz/regressions/<target>/ once crashed or hung a fuzzer, and a few
// inputs they found are kept as named cases.

#include <filesystem>
#include <stdexcept>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/core.hpp>

#include "atman/io/image.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/model/tokenizer.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

// Every file in tests/fuzz/regressions/<target>/ once crashed or hung a
// fuzzer; each must now be handled (a result or a one-line error).
TEST(FuzzRegressionTest, ImageInputs) {
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/image");
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing: the regressions are part of the tree";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    const std::string bytes = testing::read_file(entry.path().string());
    try {
      const cv::Mat rgb = decode_image_rgb(bytes, "regression", int64_t{1} << 20);
      EXPECT_EQ(rgb.type(), CV_8UC3);
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

TEST(FuzzRegressionTest, ConfigInputs) {
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/config");
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing: the regressions are part of the tree";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    try {
      parse_model_config(testing::read_file(entry.path().string()), "regression");
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

TEST(FuzzRegressionTest, PromptInputs) {
  // Decoded as tests/fuzz/prompt_fuzzer.cpp does: byte 0 image prefix and
  // add_bos, byte 1 max_positions, then "prompt\0target".
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/prompt");
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing: the regressions are part of the tree";
  const auto model = Model::load(testing::test_model("text_only.pt"));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    const std::string bytes = testing::read_file(entry.path().string());
    if (bytes.size() < 2) continue;
    ModelConfig c = model->config();
    c.max_positions = 2 + static_cast<unsigned char>(bytes[1]);
    c.add_bos = (static_cast<unsigned char>(bytes[0]) & 0x80) != 0;
    const std::string rest = bytes.substr(2);
    const size_t split = rest.find('\0');
    const std::string prompt = rest.substr(0, split);
    const std::string target = split == std::string::npos ? std::string(" x") : rest.substr(split + 1);
    try {
      const Sequence s = build_sequence(c, model->tokenizer(), prompt, target, bytes[0] & 0x7f);
      EXPECT_LE(s.length(), c.max_positions);
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(FuzzRegressionTest, TokenizerJsonInputs) {
  // Decoded as tests/fuzz/tokenizer_json_fuzzer.cpp does: an even byte 0 means
  // the rest is a tokenizer.json text (the odd mode's fixed tokenizer lives in
  // the fuzzer; none of its finds is kept yet, and one would fail here).
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/tokenizer");
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir << " is missing: the regressions are part of the tree";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    const std::string bytes = testing::read_file(entry.path().string());
    ASSERT_FALSE(bytes.empty());
    ASSERT_EQ(static_cast<unsigned char>(bytes[0]) % 2, 0) << "a find of the fixed-tokenizer mode: decode it here";
    try {
      const Tokenizer tok = Tokenizer::from_hf_json(bytes.substr(1), "regression");
      tok.decode(tok.encode("a red circle"));
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(FuzzRegressionTest, TargetOfControlCharactersIsQuotedOnOneLine) {
  const auto model = Model::load(testing::test_model("text_only.pt"));
  expect_error([&] { build_sequence(*model, "hello", "\n\n\x02\n", 0); }, {"target \"\\n\\n\\x02\\n\" gives no tokens"});
}

TEST(FuzzRegressionTest, ConfigNumberTooLargeIsNotValidJson) {
  expect_error([] { parse_model_config(R"({"contract": 84e6715164097103899})", "m.pt"); },
               {"m.pt: atman/config.json is not valid JSON ([json.exception.out_of_range.406] number overflow"});
  expect_error([] { parse_model_config(R"({"contract": 1, "name": "two\nlines"})", "m.pt"); },
               {"m.pt: atman/config.json: \"name\" must not contain control characters, got \"two\\nlines\""});
}

}  // namespace
}  // namespace atman
