// The checks around a model method call (model/method_checks.h) that Model
// and CompiledModel share: expected shapes, the output check's one line.
#include "atman/model/method_checks.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

ModelConfig small_config() {
  ModelConfig c;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_layers = 3;
  c.num_heads = 2;
  return c;
}

TEST(MethodChecksTest, ShapesFollowTheContract) {
  const ModelConfig c = small_config();
  const at::Tensor embeddings = at::zeros({2, 5, 8}), modifier = at::ones({2, 5});
  EXPECT_EQ(forward_shape(c, modifier), (std::vector<int64_t>{2, 5, 11}));
  EXPECT_EQ(hidden_states_shape(c, modifier), (std::vector<int64_t>{2, 5, 8}));
  EXPECT_EQ(lm_head_shape(c, at::zeros({7, 8})), (std::vector<int64_t>{7, 11}));
  EXPECT_EQ(lm_head_shape(c, at::zeros({2, 3, 8})), (std::vector<int64_t>{2, 3, 11}));
  EXPECT_EQ(prefix_cache_shape(c, at::zeros({1, 4, 8})), (std::vector<int64_t>{3, 2, 2, 4, -1}));
  EXPECT_EQ(hidden_states_from_cache_shape(c, at::zeros({2, 3, 8}), at::ones({2, 7})),
            (std::vector<int64_t>{2, 3, 8}));
  EXPECT_NO_THROW(check_forward_inputs(embeddings, modifier));
  expect_error([&] { check_forward_inputs(embeddings, at::ones({2, 4})); },
               {"forward: expected embeddings [B, S, D] and modifier [B, S], got [2, 5, 8] and [2, 4]"});
}

TEST(MethodChecksTest, OutputCheckNamesTheMethodAndBothShapes) {
  EXPECT_EQ(shape_text({2, -1, 7}), "[2, ?, 7]");
  EXPECT_EQ(shape_text({}), "[]");
  EXPECT_NO_THROW(check_method_output(at::zeros({2, 5, 11}), "m.pt", "forward", at::kFloat, {2, 5, 11}));
  EXPECT_NO_THROW(check_method_output(at::zeros({3, 2, 2, 4, 9}), "m.pt", "prefix_cache", at::kFloat,
                                      {3, 2, 2, 4, -1}));
  expect_error([] { check_method_output(at::zeros({2, 5, 12}), "m.pt", "forward", at::kFloat, {2, 5, 11}); },
               {"m.pt: method forward returned float32 [2, 5, 12], expected float32 [2, 5, 11]"});
  expect_error([] { check_method_output(at::zeros({2, 5}), "m.pt", "lm_head", at::kFloat, {2, -1, 11}); },
               {"m.pt: method lm_head returned float32 [2, 5], expected float32 [2, ?, 11]"});
  expect_error(
      [] { check_method_output(at::zeros({2, 5, 11}), "m.pt", "forward", at::kBFloat16, {2, 5, 11}); },
      {"m.pt: method forward returned float32 [2, 5, 11], expected bfloat16 [2, 5, 11]"});
}

TEST(MethodChecksTest, MissingMethodIsNamed) {
  const auto model = Model::load(testing::test_model("minimal.pt"));  // only the required methods
  expect_error([&] { check_has_method(*model, model->capabilities().lm_head, "lm_head"); },
               {"minimal.pt: model has no lm_head method"});
  EXPECT_NO_THROW(check_has_method(*model, true, "forward"));
}

}  // namespace
}  // namespace atman
