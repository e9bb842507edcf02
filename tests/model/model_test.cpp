#include "atman/model/model.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::bad_model;
using testing::expect_error;
using testing::test_model;

nlohmann::json good_config() {
  return nlohmann::json::parse(R"({
    "contract": 1, "name": "m", "vocab_size": 100, "hidden_size": 16, "num_layers": 2, "num_heads": 2,
    "max_positions": 64, "add_bos": true, "bos_id": 1, "eos_id": 2,
    "image": {"size": [32, 48], "grid": [4, 6], "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.25, 0.5]},
    "prompt_template": "Q: {question} A:"})");
}

TEST(ConfigTest, ParsesEveryField) {
  const ModelConfig c = parse_model_config(good_config().dump(), "m.pt");
  EXPECT_EQ(c.name, "m");
  EXPECT_EQ(c.vocab_size, 100);
  EXPECT_EQ(c.hidden_size, 16);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.max_positions, 64);
  EXPECT_TRUE(c.add_bos);
  EXPECT_EQ(c.bos_id, 1);
  ASSERT_TRUE(c.eos_id.has_value());
  EXPECT_EQ(*c.eos_id, 2);
  ASSERT_TRUE(c.image.has_value());
  EXPECT_EQ(c.image->height, 32);
  EXPECT_EQ(c.image->width, 48);
  EXPECT_EQ(c.image->grid_rows, 4);
  EXPECT_EQ(c.image->grid_cols, 6);
  EXPECT_EQ(c.image->patches(), 24);
  EXPECT_DOUBLE_EQ(c.image->std[1], 0.25);
  EXPECT_EQ(c.prompt_template, "Q: {question} A:");
}

TEST(ConfigTest, ImageNullMeansTextOnlyAndEosIsOptional) {
  auto j = good_config();
  j["image"] = nullptr;
  j.erase("eos_id");
  const ModelConfig c = parse_model_config(j.dump(), "m.pt");
  EXPECT_FALSE(c.image.has_value());
  EXPECT_FALSE(c.eos_id.has_value());
}

struct BadConfigCase {
  std::string pointer;  // JSON pointer of the field to change
  nlohmann::json value;  // new value; discarded => remove the field
  std::string message;
};

TEST(ConfigTest, RejectsEveryBadFieldWithItsName) {
  const std::vector<BadConfigCase> cases = {
      {"/contract", 2, "\"contract\" must be in [1, 1], got 2"},
      {"/contract", "1", "\"contract\" must be an integer, got \"1\""},
      {"/name", 5, "\"name\" must be a string, got 5"},
      {"/name", "", "\"name\" must not be empty"},
      {"/vocab_size", 0, "\"vocab_size\" must be at least 1, got 0"},
      {"/vocab_size", 10.5, "\"vocab_size\" must be an integer, got 10.5"},
      {"/hidden_size", "16", "\"hidden_size\" must be an integer, got \"16\""},
      {"/num_layers", nullptr, "\"num_layers\" must be an integer, got null"},
      {"/num_heads", -1, "\"num_heads\" must be at least 1, got -1"},
      {"/max_positions", true, "\"max_positions\" must be an integer, got true"},
      {"/add_bos", 1, "\"add_bos\" must be true or false, got 1"},
      {"/bos_id", 100, "\"bos_id\" must be in [0, 99], got 100"},
      {"/eos_id", -3, "\"eos_id\" must be in [0, 99], got -3"},
      {"/image", 3, "\"image\" must be an object or null, got 3"},
      {"/image/size", nlohmann::json::array({32}), "\"image.size\" must be a list of 2 integers"},
      {"/image/grid", nlohmann::json::array({0, 4}), "\"image.grid\" must be a list of 2 integers >= 1"},
      {"/image/grid", nlohmann::json::array({40, 4}), "\"image.grid\" must not exceed image.size [32, 48]"},
      {"/image/mean", nlohmann::json::array({0.5, 0.5}), "\"image.mean\" must be a list of 3 numbers"},
      {"/image/std", nlohmann::json::array({0.5, 0.0, 0.5}), "\"image.std\" must be a list of 3 positive numbers"},
      {"/prompt_template", "no placeholder", "\"prompt_template\" must contain {question}"},
      {"/prompt_template", 7, "\"prompt_template\" must be a string, got 7"},
  };
  for (const auto& c : cases) {
    auto j = good_config();
    j[nlohmann::json::json_pointer(c.pointer)] = c.value;
    SCOPED_TRACE(c.pointer);
    expect_error([&] { parse_model_config(j.dump(), "dir/m.pt"); }, {"dir/m.pt: atman/config.json: ", c.message});
  }
  for (const char* field : {"contract", "name", "vocab_size", "hidden_size", "num_layers", "num_heads",
                            "max_positions", "add_bos", "bos_id", "image", "prompt_template"}) {
    auto j = good_config();
    j.erase(field);
    SCOPED_TRACE(field);
    expect_error([&] { parse_model_config(j.dump(), "m.pt"); }, {std::string("\"") + field + "\" is missing"});
  }
  auto j = good_config();
  j["image"].erase("grid");
  expect_error([&] { parse_model_config(j.dump(), "m.pt"); }, {"\"image.grid\" is missing"});
  j = good_config();
  j["max_positions"] = 24;
  expect_error([&] { parse_model_config(j.dump(), "m.pt"); },
               {"\"image.grid\" has 24 patches, not fewer than max_positions 24"});
}

// The contract-1 additions of the importers (docs/contract.md): num_kv_heads,
// head_dim, image.resize, {image} in the template.
TEST(ConfigTest, ReadsKvHeadsResizeAndImageMarker) {
  auto j = good_config();
  ModelConfig c = parse_model_config(j.dump(), "m.pt");
  EXPECT_EQ(c.kv_heads(), 2);
  EXPECT_EQ(c.image->resize, ImageResize::kStretch);
  j["num_heads"] = 8;
  j["num_kv_heads"] = 2;
  j["image"]["resize"] = "center_crop";
  j["prompt_template"] = "USER: {image}\n{question} ASSISTANT:";
  c = parse_model_config(j.dump(), "m.pt");
  EXPECT_EQ(c.kv_heads(), 2);
  EXPECT_EQ(c.image->resize, ImageResize::kCenterCrop);
  j["image"]["resize"] = "pad";
  EXPECT_EQ(parse_model_config(j.dump(), "m.pt").image->resize, ImageResize::kPad);
  j["image"]["resize"] = "stretch";
  EXPECT_EQ(parse_model_config(j.dump(), "m.pt").image->resize, ImageResize::kStretch);
  // image.resample: OpenCV's filters unless the config names Pillow's.
  EXPECT_EQ(c.image->resample, ImageResample::kOpenCv);
  for (const ImageResample r : kImageResamples) {
    j["image"]["resample"] = image_resample_name(r);
    EXPECT_EQ(parse_model_config(j.dump(), "m.pt").image->resample, r) << image_resample_name(r);
  }
  // head_dim: the caches' last dimension, hidden_size / num_heads without it.
  EXPECT_EQ(c.head_width(), c.hidden_size / 8);
  j["head_dim"] = 12;
  EXPECT_EQ(parse_model_config(j.dump(), "m.pt").head_width(), 12);
}

TEST(ConfigTest, RejectsBadKvHeadsResizeAndImageMarker) {
  const std::vector<BadConfigCase> cases = {
      {"/num_kv_heads", 0, "\"num_kv_heads\" must be in [1, 2], got 0"},
      {"/num_kv_heads", 3, "\"num_kv_heads\" must be in [1, 2], got 3"},
      {"/num_kv_heads", "2", "\"num_kv_heads\" must be an integer, got \"2\""},
      {"/head_dim", 0, "\"head_dim\" must be in [1, 65536], got 0"},
      {"/head_dim", 1.5, "\"head_dim\" must be an integer, got 1.5"},
      {"/image/resize", "crop", "\"image.resize\" must be \"stretch\", \"center_crop\" or \"pad\", got \"crop\""},
      {"/image/resize", 1, "\"image.resize\" must be a string, got 1"},
      {"/image/resample", "bicubic",
       "\"image.resample\" must be \"opencv\", \"pil_bicubic\", \"pil_bilinear\", \"pil_lanczos\", \"pil_box\" or "
       "\"pil_hamming\", got \"bicubic\""},
      {"/image/resample", 3, "\"image.resample\" must be a string, got 3"},
      {"/prompt_template", "{image} {question} {image}",
       "\"prompt_template\" may contain {image} at most once, got \"{image} {question} {image}\""},
  };
  for (const auto& c : cases) {
    auto j = good_config();
    j[nlohmann::json::json_pointer(c.pointer)] = c.value;
    SCOPED_TRACE(c.pointer);
    expect_error([&] { parse_model_config(j.dump(), "dir/m.pt"); }, {"dir/m.pt: atman/config.json: ", c.message});
  }
  auto j = good_config();
  j["num_heads"] = 6;
  j["num_kv_heads"] = 4;
  expect_error([&] { parse_model_config(j.dump(), "m.pt"); }, {"\"num_kv_heads\" must divide num_heads 6, got 4"});
  j = good_config();
  j["image"] = nullptr;
  j["prompt_template"] = "{image} {question}";
  expect_error([&] { parse_model_config(j.dump(), "m.pt"); },
               {"\"prompt_template\" contains {image} but the model is text-only (image is null)"});
}

TEST(ConfigTest, RejectsNonJsonAndNonObjects) {
  expect_error([] { parse_model_config("{oops", "m.pt"); }, {"m.pt: atman/config.json is not valid JSON"});
  expect_error([] { parse_model_config("[1, 2]", "m.pt"); }, {"m.pt: atman/config.json must be a JSON object"});
  expect_error([] { parse_model_config("", "m.pt"); }, {"is not valid JSON"});
}

TEST(ModelTest, LoadsImageTextModelWithEveryOptionalMethod) {
  auto model = Model::load(test_model("image_text.pt"));
  EXPECT_EQ(model->config().name, "test-image-text");
  EXPECT_TRUE(model->has_image());
  const auto& caps = model->capabilities();
  EXPECT_TRUE(caps.hidden_states && caps.lm_head && caps.prefix_cache && caps.hidden_states_from_cache &&
              caps.forward_with_attentions);
  EXPECT_TRUE(caps.forward_additive && caps.hidden_states_additive && caps.hidden_states_from_cache_additive &&
              caps.forward_lrp);
  EXPECT_TRUE(caps.target_only());
  EXPECT_TRUE(caps.prefix_reuse());
  EXPECT_GT(model->tokenizer().vocab_size(), 100);

  c10::InferenceMode guard;
  const int64_t d = model->config().hidden_size;
  at::Tensor e = model->embed_text(at::tensor({1, 5, 7}, at::kLong).view({1, 3}));
  EXPECT_EQ(e.sizes(), (at::IntArrayRef{1, 3, d}));
  const auto& ic = *model->config().image;
  at::Tensor img = model->embed_image(at::zeros({1, 3, ic.height, ic.width}));
  EXPECT_EQ(img.sizes(), (at::IntArrayRef{1, ic.patches(), d}));
  at::Tensor logits = model->forward(e, at::ones({2, 3}));
  EXPECT_EQ(logits.sizes(), (at::IntArrayRef{2, 3, model->config().vocab_size}));
  at::Tensor hidden = model->hidden_states(e, at::ones({1, 3}));
  at::Tensor via_head = model->lm_head(hidden.view({3, d}));
  EXPECT_TRUE(at::allclose(via_head, logits[0], 1e-5, 1e-5));
  at::Tensor cache = model->prefix_cache(e.slice(1, 0, 2));
  EXPECT_EQ(cache.size(0), model->config().num_layers);
}

TEST(ModelTest, MinimalAndTextOnlyModels) {
  auto minimal = Model::load(test_model("minimal.pt"));
  const auto& caps = minimal->capabilities();
  EXPECT_FALSE(caps.hidden_states || caps.lm_head || caps.prefix_cache || caps.hidden_states_from_cache ||
               caps.forward_with_attentions);
  EXPECT_FALSE(caps.forward_additive || caps.hidden_states_additive || caps.hidden_states_from_cache_additive ||
               caps.forward_lrp);
  auto text = Model::load(test_model("text_only.pt"));
  EXPECT_FALSE(text->has_image());
  c10::InferenceMode guard;
  expect_error([&] { text->embed_image(at::zeros({1, 3, 8, 8})); }, {"text_only.pt", "is text-only"});
}

TEST(ModelTest, RefusesBadModelsWithOneLineNamingFileAndProblem) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty.pt", "model file is empty"},
      {"random_bytes.pt", "not a TorchScript model"},
      {"zip_not_torchscript.pt", "not a TorchScript model (a zip archive without TorchScript's records)"},
      {"no_extra_files.pt", "not an explainable model: the extra file atman/config.json is missing or empty"},
      {"no_tokenizer.pt", "not an explainable model: the extra file atman/tokenizer.model (or atman/tokenizer.json) is missing or empty"},
      {"not_contract.pt", "not an explainable model: it has no method embed_text(ids)"},
      {"config_not_json.pt", "atman/config.json is not valid JSON"},
      {"config_wrong_type.pt", "atman/config.json: \"hidden_size\" must be an integer, got \"16\""},
      {"config_missing_field.pt", "atman/config.json: \"max_positions\" is missing"},
      {"bad_tokenizer.pt", "atman/tokenizer.model is not a valid sentencepiece model"},
      {"lrp_takes_two.pt", "not an explainable model: method forward_lrp takes 2 argument(s), the contract needs "
                           "forward_lrp(embeddings)"},
      {"additive_takes_one.pt", "not an explainable model: method forward_additive takes 1 argument(s), the "
                                "contract needs forward_additive(embeddings, attention_bias)"},
  };
  for (const auto& [file, message] : cases) {
    SCOPED_TRACE(file);
    expect_error([&] { Model::load(bad_model(file)); }, {bad_model(file) + ": " + message});
  }
  expect_error([] { Model::load("/nonexistent/m.pt"); }, {"/nonexistent/m.pt: model file not found"});
  expect_error([] { Model::load(ATMAN_TEST_MODELS); }, {"model path is a directory"});
}

// forward_lrp (docs/optional_methods.md) is the plain model: the same logits
// as forward with a modifier of ones; its output is checked; without it, one line.
TEST(ModelTest, ForwardLrpIsThePlainModelAndIsChecked) {
  auto model = Model::load(test_model("image_text.pt"));
  c10::InferenceMode guard;
  at::Tensor e = model->embed_text(at::tensor({1, 5, 7, 9, 11}, at::kLong).view({1, 5}));
  const at::Tensor plain = model->forward(e, at::ones({1, 5}));
  EXPECT_TRUE(at::allclose(model->forward_lrp(e), plain, 1e-4, 1e-4));
  auto minimal = Model::load(test_model("minimal.pt"));
  expect_error([&] { minimal->forward_lrp(e); }, {"minimal.pt: model has no forward_lrp method"});
  auto short_lrp = Model::load(bad_model("short_lrp.pt"));
  at::Tensor e2 = short_lrp->embed_text(at::tensor({1, 5}, at::kLong).view({1, 2}));
  expect_error([&] { short_lrp->forward_lrp(e2); },
               {"short_lrp.pt: method forward_lrp returned float32 [1, 2, ", "expected float32 [1, 2, "});
}

TEST(ModelTest, ChecksOutputShapes) {
  auto model = Model::load(bad_model("wrong_vocab.pt"));
  c10::InferenceMode guard;
  at::Tensor e = model->embed_text(at::tensor({1, 5}, at::kLong).view({1, 2}));
  expect_error([&] { model->forward(e, at::ones({1, 2})); },
               {"wrong_vocab.pt: method forward returned float32 [1, 2, ", "expected float32 [1, 2, "});
}

}  // namespace
}  // namespace atman
