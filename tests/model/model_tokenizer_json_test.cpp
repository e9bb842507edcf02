// Model::load with either tokenizer of the contract: atman/tokenizer.model
// (sentencepiece) or atman/tokenizer.json (Hugging Face); both or neither is
// one line naming the file. The models are the test models re-saved with
// other extra files.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/byte_level.h"
#include "atman/model/model.h"
#include "test_util.h"

namespace atman {
namespace {

using nlohmann::json;
using testing::expect_error;

// A byte-level BPE with `size` ids: the 128 ASCII bytes, then merges making "Ġr", "Ġre", ...
std::string byte_level_json(int64_t size) {
  json vocab = json::object();
  for (int b = 0; b < 128; ++b) vocab[hf::byte_to_char(static_cast<uint8_t>(b))] = b;
  json merges = json::array();
  std::string word = hf::byte_to_char(' ');
  const std::string letters = "redgreenbluecirclesquare";
  for (int64_t id = 128; id < size; ++id) {
    const std::string next(1, letters[static_cast<size_t>(id - 128) % letters.size()]);
    merges.push_back(word + " " + next);
    word += next;
    vocab[word] = id;
  }
  return json{{"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}}
      .dump();
}

class ModelTokenizerJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unordered_map<std::string, std::string> extra{{"atman/config.json", ""}};
    module_ = torch::jit::load(testing::test_model("text_only.pt"), c10::Device(c10::kCPU), extra);
    config_ = extra["atman/config.json"];
    vocab_size_ = json::parse(config_).at("vocab_size").get<int64_t>();
  }
  std::string save(const std::string& name, const std::unordered_map<std::string, std::string>& extra) {
    const std::string path = dir_.path(name);
    module_.save(path, extra);
    return path;
  }

  testing::TempDir dir_;
  torch::jit::Module module_;
  std::string config_;
  int64_t vocab_size_ = 0;
};

TEST_F(ModelTokenizerJsonTest, LoadsATokenizerJsonModel) {
  ASSERT_GE(vocab_size_, 131);
  const std::string path = save("hf.pt", {{"atman/config.json", config_}, {"atman/tokenizer.json", byte_level_json(131)}});
  const auto model = Model::load(path);
  const Tokenizer& tok = model->tokenizer();
  EXPECT_EQ(tok.vocab_size(), 131);
  EXPECT_EQ(tok.encode(" red"), (std::vector<int64_t>{130}));
  EXPECT_EQ(tok.piece(130), "\xe2\x96\x81red");
  EXPECT_EQ(tok.vocab_piece(130), "\xc4\xa0red");
  EXPECT_EQ(tok.decode(tok.encode("a red circle")), "a red circle");
}

TEST_F(ModelTokenizerJsonTest, RefusesBothNeitherAndBadTokenizersWithOneLine) {
  const std::string sentencepiece =
      testing::read_file(testing::source_path("torchscript_models/tokenizer.model"));
  const std::string both = save("both.pt", {{"atman/config.json", config_},
                                            {"atman/tokenizer.model", sentencepiece},
                                            {"atman/tokenizer.json", byte_level_json(256)}});
  expect_error([&] { Model::load(both); },
               {both + ": the extra files atman/tokenizer.model and atman/tokenizer.json are both present; a model "
                       "carries exactly one tokenizer (docs/contract.md)"});
  const std::string neither = save("neither.pt", {{"atman/config.json", config_}});
  expect_error([&] { Model::load(neither); },
               {neither + ": not an explainable model: the extra file atman/tokenizer.model (or "
                          "atman/tokenizer.json) is missing or empty (docs/contract.md)"});
  const std::string bad = save("bad.pt", {{"atman/config.json", config_}, {"atman/tokenizer.json", "{\"x\": 1}"}});
  expect_error([&] { Model::load(bad); }, {bad + ": atman/tokenizer.json: \"model\" is missing"});
  const std::string wordpiece = save(
      "wordpiece.pt", {{"atman/config.json", config_},
                       {"atman/tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})"}});
  expect_error([&] { Model::load(wordpiece); },
               {wordpiece + ": atman/tokenizer.json: model type \"WordPiece\" is not supported (supported: BPE)"});
  const std::string big =
      save("big.pt", {{"atman/config.json", config_}, {"atman/tokenizer.json", byte_level_json(vocab_size_ + 3)}});
  expect_error([&] { Model::load(big); },
               {big + ": atman/tokenizer.json has " + std::to_string(vocab_size_ + 3) +
                " pieces, more than vocab_size " + std::to_string(vocab_size_)});
}

}  // namespace
}  // namespace atman
