#pragma once
// atman::relevance: R[i, t] = CE_t(m_i) - CE_t(1) (docs/method.md, the
// paper's sign: positive means position i mattered), for people who run the
// perturbed passes with their own model.
//
// Schema: relevance(Tensor clean_ce, Tensor perturbed_ce) -> Tensor
//
// The same function as `atman explain` (atman::gather_relevance); sum the
// result over its last dimension for R[i].

#include <ATen/core/Tensor.h>

#include "atman/core/sweep.h"

namespace atman::ops {

/// The CPU kernel: clean_ce float [T] (CE_t under the all-ones modifier),
/// perturbed_ce float [N, T] (row i under modifier row i) -> float64 [N, T].
/// Throws c10::Error naming the bad value.
at::Tensor relevance_cpu(const at::Tensor& clean_ce, const at::Tensor& perturbed_ce);

/// The same through the dispatcher (what torch.ops.atman.relevance calls).
at::Tensor relevance(const at::Tensor& clean_ce, const at::Tensor& perturbed_ce);

}  // namespace atman::ops
