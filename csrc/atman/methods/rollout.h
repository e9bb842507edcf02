#pragma once
// Attention rollout (Abnar & Zuidema 2020): per layer the heads' mean A_l,
// A^_l = (A_l + I) / 2, rollout = A^_L ... A^_1; R[i, t] = rollout[q_t, i]
// with q_t the row predicting target t. Gradient-free (its value is the same
// for every target row's own query; rows sum to 1). Needs the optional
// contract method forward_with_attentions.

#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Per-position, per-target values, float64 [S, T].
at::Tensor attention_rollout_relevance(const Model& model, const PreparedInput& prepared);

/// Attention rollout of per-layer maps, each [H, S, S] or [1, H, S, S]
/// (rows: queries, summing to 1): the [S, S] product (A^_L ... A^_1) with
/// A^_l = (mean_h A_l + I) / 2, float64.
at::Tensor attention_rollout(const std::vector<at::Tensor>& maps);

}  // namespace atman
