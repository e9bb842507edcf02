#pragma once
// Leave-one-out (`--method loo`): each explained unit of the prompt (an image
// patch, a prompt token, or with word/sentence granularity a group of them)
// removed by input removal (removal.h: tokens deleted, patches filled with
// the mean pixel) and the model rerun:
//   R[g, t] = CE_t(without g) - CE_t(clean)
// the rise of the target's cross-entropy, the influence that the AtMan paper
// proposes as ground truth. Target positions are not explained (0): under
// teacher forcing, removing one changes what is predicted.
//
// Usage:
//   int64_t passes = 0;
//   at::Tensor values = leave_one_out(model, input, prepared, &passes);  // float64 [S, T]

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Per-position values float64 [S, T]: each group's value at its first
/// member, 0 at its other members (a group's sum is its own removal's rise)
/// and at target positions. `passes` (optional): the model passes run.
at::Tensor leave_one_out(const Model& model, const ExplainInput& input, const PreparedInput& prepared,
                         int64_t* passes = nullptr);

}  // namespace atman
