#pragma once
// Integrated Gradients (Sundararajan et al. 2017), zero baseline for all of E
// at once, midpoint Riemann sum over `steps` points alpha_k = (k + 1/2) / steps,
// run `batch` points per pass:
//   R[i, t] = sum_d E[i, d] * mean_k d log p(t) / d E[i, d] (alpha_k E)
// Completeness: sum_i R[i, t] ~= log p(t)(E) - log p(t)(0) (target_log_probs, registry.h).

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Per-position, per-target values, float64 [S, T]. `batch` is the points
/// per pass (0: min(steps, 32)).
at::Tensor integrated_gradients(const Model& model, const PreparedInput& prepared, int64_t steps,
                                int64_t batch = 0);

}  // namespace atman
