#pragma once
// Loading and checking an explainable model (.pt, docs/contract.md).

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "atman/io/image_config.h"
#include "atman/model/model_config.h"
#include "atman/model/tokenizer.h"

namespace torch {
namespace jit {
struct Module;
}
}  // namespace torch

namespace atman {


/// Optional methods of docs/optional_methods.md found at load time.
struct ModelCapabilities {
  bool hidden_states = false;             // hidden_states(embeddings, modifier)
  bool lm_head = false;                   // lm_head(hidden)
  bool prefix_cache = false;              // prefix_cache(embeddings)
  bool hidden_states_from_cache = false;  // hidden_states_from_cache(emb, cache, modifier)
  bool forward_with_attentions = false;   // forward_with_attentions(emb, modifier)
  bool step_from_cache = false;           // step_from_cache(emb, cache, modifier) -> (hidden, cache)
  // The log-additive control: the same passes with an additive bias [B, S] in place of the modifier.
  bool forward_additive = false;                   // forward_additive(emb, attention_bias)
  bool hidden_states_additive = false;             // hidden_states_additive(emb, attention_bias)
  bool hidden_states_from_cache_additive = false;  // hidden_states_from_cache_additive(emb, cache, attention_bias)
  bool forward_lrp = false;                        // forward_lrp(emb): logits whose Input x Gradient is AttnLRP
  bool target_only() const { return hidden_states && lm_head; }
  bool prefix_reuse() const { return prefix_cache && hidden_states_from_cache; }
  /// Steered generation with a KV cache (docs/steering.md): step_from_cache + lm_head.
  bool kv_generation() const { return step_from_cache && lm_head; }
};

/// A loaded, checked contract model.
///
/// Usage:
///   auto model = atman::Model::load("tiny_magma.pt");   // throws with one line
///   at::Tensor e = model->embed_text(ids);              // [1, T, D]
/// Methods run the TorchScript module; call them under torch::InferenceMode or
/// NoGradGuard unless gradients are wanted. Output shapes are checked.
class Model {
 public:
  static std::shared_ptr<Model> load(const std::string& path);
  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::string& path() const { return path_; }
  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return tokenizer_; }
  const ModelCapabilities& capabilities() const { return capabilities_; }
  bool has_image() const { return config_.image.has_value(); }

  /// int64 [B, T] -> float32 [B, T, D].
  at::Tensor embed_text(const at::Tensor& ids) const;
  /// float32 [B, 3, H, W] -> float32 [B, P, D]; throws for a text-only model.
  at::Tensor embed_image(const at::Tensor& pixels) const;
  /// float32 [B or 1, S, D], float32 [B, S] -> float32 logits [B, S, V].
  at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& modifier) const;
  /// Optional: final hidden states [B, S, D] (capabilities().hidden_states).
  at::Tensor hidden_states(const at::Tensor& embeddings, const at::Tensor& modifier) const;
  /// Optional: [N, D] -> [N, V] (capabilities().lm_head).
  at::Tensor lm_head(const at::Tensor& hidden) const;
  /// Optional: clean prefix pass [1, P, D] -> [L, 2, H, P, dh].
  at::Tensor prefix_cache(const at::Tensor& embeddings) const;
  /// Optional: suffix pass; see docs/optional_methods.md.
  at::Tensor hidden_states_from_cache(const at::Tensor& embeddings, const at::Tensor& cache,
                                      const at::Tensor& modifier) const;
  /// Optional (capabilities().forward_lrp): float32 [B, S, D] -> logits [B, S, V]
  /// of the plain model written for AttnLRP (docs/optional_methods.md); in the
  /// autograd graph when the embeddings require grad.
  at::Tensor forward_lrp(const at::Tensor& embeddings) const;

  /// Optional (capabilities().step_from_cache): embeddings [1, S2, D] of
  /// positions P..P+S2-1, cache [L, 2, Hkv, P, dh] (P may be 0), modifier
  /// [1, P+S2] -> (final hidden states [1, S2, D], cache [L, 2, Hkv, P+S2, dh]).
  /// Both outputs are checked (dtype, rank, sizes, the cache's growth by S2).
  ///   auto [hidden, cache] = model->step_from_cache(e, model->empty_cache(), at::ones({1, S}));
  std::pair<at::Tensor, at::Tensor> step_from_cache(const at::Tensor& embeddings, const at::Tensor& cache,
                                                    const at::Tensor& modifier) const;
  /// The empty cache [L, 2, kv_heads, 0, hidden_size / num_heads] a first
  /// step_from_cache call takes.
  at::Tensor empty_cache() const;

  /// The TorchScript module itself, for methods this class does not wrap
  /// (e.g. forward_with_attentions). Include <torch/script.h> to use it.
  torch::jit::Module& module() const;

 private:
  Model() = default;
  std::string path_;
  ModelConfig config_;
  Tokenizer tokenizer_;
  ModelCapabilities capabilities_;
  std::unique_ptr<torch::jit::Module> module_;
};

}  // namespace atman
