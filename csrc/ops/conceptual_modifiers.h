#pragma once
// atman::conceptual_modifiers: the attention-modifier rows of
// docs/method.md for people who bring their own model.
//
// Schema: conceptual_modifiers(Tensor embeddings, Tensor positions,
//           float suppression_factor=0.1, float? conceptual_threshold=0.6) -> Tensor
//
// Row n suppresses key positions[n] with suppression_factor and, unless
// conceptual_threshold is None, every j != positions[n] whose embedding's
// cosine similarity C with it is >= the threshold with (1 - f)(1 - C) + f.
// The same function as `atman explain` (atman::modifier_rows).

#include <c10/util/Optional.h>

#include <ATen/core/Tensor.h>

namespace atman::ops {

/// The CPU kernel: embeddings float32/float64 [S, D] (layer-0 input
/// embeddings), positions int64 [N] in [0, S) -> float32 [N, S]. Checks every
/// argument and throws c10::Error naming the bad value.
at::Tensor conceptual_modifiers_cpu(const at::Tensor& embeddings, const at::Tensor& positions,
                                    double suppression_factor, c10::optional<double> conceptual_threshold);

/// The same through the dispatcher (what torch.ops.atman.conceptual_modifiers calls).
at::Tensor conceptual_modifiers(const at::Tensor& embeddings, const at::Tensor& positions,
                                double suppression_factor, c10::optional<double> conceptual_threshold);

}  // namespace atman::ops
