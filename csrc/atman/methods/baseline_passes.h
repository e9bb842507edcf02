#pragma once
// What the baselines share (internal to methods/): gradients only for the
// input, the target's log-probabilities as the score, forward_with_attentions
// and its checks, and rows of attention matrices as per-position values.

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"

namespace atman::baseline {

/// Gradients are wanted for the embeddings (or the attention maps) only: the
/// weights' own gradients would cost memory and time for nothing.
void freeze_parameters(const Model& model);

/// A copy of the prepared (inference-mode) embeddings usable in autograd.
at::Tensor plain_embeddings(const PreparedInput& prepared);

/// Throws std::runtime_error naming the model when `logits` hold NaN or Inf.
void check_finite_logits(const Model& model, const at::Tensor& logits);

/// The score of every row of `embeddings` [B, S, D]: log p(target t) at its
/// prediction row, float64 [B, T] (model/target_pass.h; logits checked finite).
at::Tensor score_rows(const Model& model, const Sequence& seq, const at::Tensor& embeddings);

/// One forward_with_attentions call, checked (docs/contract.md).
struct AttentionPass {
  at::Tensor logits;             // [1, S, V]
  std::vector<at::Tensor> maps;  // per layer [1, H, S, S]
};
AttentionPass forward_with_attentions(const Model& model, const at::Tensor& embeddings);

/// values[i, t] = per_target_matrices[t][prediction row of t, i], float64
/// [S, T]; `remove_identity` subtracts 1 at the query's own column.
at::Tensor attention_rows_to_values(const Sequence& seq, const std::vector<at::Tensor>& per_target_matrices,
                                    bool remove_identity);

}  // namespace atman::baseline
