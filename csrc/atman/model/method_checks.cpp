#include "atman/model/method_checks.h"

#include <stdexcept>

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "atman/io/error_text.h"

namespace atman {

void check_has_method(const Model& model, bool has, const char* name) {
  TORCH_CHECK(has, model.path(), ": model has no ", name, " method");
}

void check_forward_inputs(const at::Tensor& embeddings, const at::Tensor& modifier) {
  TORCH_CHECK(embeddings.dim() == 3 && modifier.dim() == 2 && embeddings.size(1) == modifier.size(1),
              "forward: expected embeddings [B, S, D] and modifier [B, S], got ", embeddings.sizes(), " and ",
              modifier.sizes());
}

std::vector<int64_t> forward_shape(const ModelConfig& config, const at::Tensor& modifier) {
  return {modifier.size(0), modifier.size(1), config.vocab_size};
}

std::vector<int64_t> hidden_states_shape(const ModelConfig& config, const at::Tensor& modifier) {
  return {modifier.size(0), modifier.size(1), config.hidden_size};
}

std::vector<int64_t> lm_head_shape(const ModelConfig& config, const at::Tensor& hidden) {
  std::vector<int64_t> expected(hidden.sizes().begin(), hidden.sizes().end());
  expected.back() = config.vocab_size;
  return expected;
}

std::vector<int64_t> prefix_cache_shape(const ModelConfig& config, const at::Tensor& embeddings) {
  return {config.num_layers, 2, config.kv_heads(), embeddings.size(1), -1};
}

std::vector<int64_t> hidden_states_from_cache_shape(const ModelConfig& config, const at::Tensor& embeddings,
                                                    const at::Tensor& modifier) {
  return {modifier.size(0), embeddings.size(1), config.hidden_size};
}

std::string shape_text(const std::vector<int64_t>& dims) {
  std::vector<std::string> parts;
  for (int64_t d : dims) parts.push_back(d < 0 ? "?" : std::to_string(d));
  return fmt::format("[{}]", fmt::join(parts, ", "));
}

void check_method_output(const at::Tensor& out, const std::string& path, const std::string& name,
                         at::ScalarType dtype, const std::vector<int64_t>& expected) {
  bool ok = out.scalar_type() == dtype && out.dim() == static_cast<int64_t>(expected.size());
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = expected[i] < 0 || out.size(i) == expected[i];
  if (!ok) {
    throw std::runtime_error(fmt::format("{}: method {} returned {} {}, expected {} {}", path, name,
                                         dtype_name(out.scalar_type()), c10::str(out.sizes()), dtype_name(dtype),
                                         shape_text(expected)));
  }
}

}  // namespace atman
