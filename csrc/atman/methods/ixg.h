#pragma once
// Input x Gradient on the layer-0 embeddings E [S, D]:
//   R[i, t] = sum_d E[i, d] * d log p(t) / d E[i, d]
// (signed: the first-order contribution of the position's embedding to the score).

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Per-position, per-target values, float64 [S, T] (S = sequence length).
at::Tensor input_x_gradient(const Model& model, const PreparedInput& prepared);

}  // namespace atman
