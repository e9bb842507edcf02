#pragma once
// Chefer et al. 2021 ("Generic attention-model explainability"),
// self-attention rule: R = I; for l = 1..L:
//   A-bar_l = mean_heads( max(0, dlog p(t)/dA_l * A_l) ),  R += A-bar_l R;
// R[i, t] = (R - I)[q_t, i]. The identity (the query's own residual stream, a
// constant 1 independent of input and target) is taken out so that the query
// position is scored only by what reaches it through attention, in the
// gradient's units like every other position (Chefer et al.'s ViT code
// likewise drops the [CLS] query's own entry). Needs the optional contract
// method forward_with_attentions.

#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Per-position, per-target values, float64 [S, T].
at::Tensor chefer_relevance(const Model& model, const PreparedInput& prepared);

/// Chefer's rule on per-layer maps and their gradients (same shapes):
/// R = I; R += mean_h(max(0, G_l * A_l)) R per layer in order; returns R, float64 [S, S].
at::Tensor chefer_rule(const std::vector<at::Tensor>& maps, const std::vector<at::Tensor>& grads);

}  // namespace atman
