#pragma once
// Input x Gradient on the layer-0 embeddings E [S, D]:
//   R[i, t] = sum_d E[i, d] * d log p(t) / d E[i, d]
// (signed: the first-order contribution of the position's embedding to the score).

#include <functional>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Per-position, per-target values, float64 [S, T] (S = sequence length).
at::Tensor input_x_gradient(const Model& model, const PreparedInput& prepared);

/// The scores Input x Gradient differentiates: embeddings [1, S, D] (requiring
/// grad) -> [1, T], in the autograd graph.
using ScoreFunction = std::function<at::Tensor(const at::Tensor& embeddings)>;

/// Input x Gradient of any score (input_x_gradient: log p(t); AttnLRP,
/// attnlrp.h: the target's logit through forward_lrp): float64 [S, T],
/// R[i, t] = sum_d E[i, d] * d score_t / d E[i, d].
at::Tensor input_x_gradient_of(const Model& model, const PreparedInput& prepared, const ScoreFunction& score);

}  // namespace atman
