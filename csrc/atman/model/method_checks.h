#pragma once
// The contract's checks around a call of a model method (docs/contract.md),
// one piece of code for Model (model/model.h) and CompiledModel
// (core/pass_runner.h), which call the same methods (CompiledModel on the
// module as loaded or a bfloat16 copy): that the model has the method, the
// inputs forward() takes, and the shape each method must return.
//
// Usage:
//   check_has_method(model, model.capabilities().lm_head, "lm_head");
//   at::Tensor out = ...;  // the method's result
//   check_method_output(out, model.path(), "lm_head", at::kFloat, lm_head_shape(model.config(), hidden));

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/model/model.h"

namespace atman {

/// Throws "PATH: model has no NAME method" unless `has` (a field of model.capabilities()).
void check_has_method(const Model& model, bool has, const char* name);
/// Throws unless embeddings are [B, S, D] and the modifier [B, S].
void check_forward_inputs(const at::Tensor& embeddings, const at::Tensor& modifier);

/// What each method must return for its inputs; -1 where any size is allowed.
std::vector<int64_t> forward_shape(const ModelConfig& config, const at::Tensor& modifier);        // [B, S, V]
std::vector<int64_t> hidden_states_shape(const ModelConfig& config, const at::Tensor& modifier);  // [B, S, D]
std::vector<int64_t> lm_head_shape(const ModelConfig& config, const at::Tensor& hidden);          // [..., V]
std::vector<int64_t> prefix_cache_shape(const ModelConfig& config, const at::Tensor& embeddings);  // [L, 2, Hkv, P, ?]
std::vector<int64_t> hidden_states_from_cache_shape(const ModelConfig& config, const at::Tensor& embeddings,
                                                    const at::Tensor& modifier);  // [B, S2, D]

/// "[2, ?, 7]": a shape with -1 shown as "?".
std::string shape_text(const std::vector<int64_t>& dims);
/// Throws "PATH: method NAME returned DTYPE SIZES, expected DTYPE SHAPE" unless
/// `out` has `dtype` and the shape `expected`.
void check_method_output(const at::Tensor& out, const std::string& path, const std::string& name,
                         at::ScalarType dtype, const std::vector<int64_t>& expected);

}  // namespace atman
