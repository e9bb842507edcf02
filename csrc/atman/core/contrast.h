#pragma once
// Contrastive explanations (docs/method.md, "Contrast"): why the model says
// the target rather than a contrast answer. For every unit i of the prompt
// (image patches and prompt text; the target positions differ between the
// two answers' sequences and are not explained):
//
//   R[i] = sum_t (CE_t(m_i) - CE_t(1)) - sum_c (CE_c(m_i) - CE_c(1))
//
// over the target's tokens t and the contrast's tokens c, each read under
// teacher forcing of its own answer. Positive: suppressing i costs the target
// more than the contrast, so i makes the model say the target rather than the
// contrast. When both answers give the same input sequence (each one token,
// or the same tokens but the last) one sweep reads both answers' rows from
// the same logits; otherwise two sweeps share the image's embedding and the
// compiled model.
//
// Usage:
//   ExplainInput input{prompt, " red", image};
//   input.contrast = " blue";
//   Explanation e = explainer.explain(input, ExplainOptions{});  // calls explain_contrast

#include "atman/core/explainer.h"
#include "atman/core/explanation.h"
#include "atman/core/options.h"

namespace atman {

/// The contrastive explanation of input.target against *input.contrast
/// (Explanation::contrast set, units the prompt's, per_contrast filled, maps
/// shaped as `options` say). Throws std::invalid_argument with one line when
/// the contrast is empty, only whitespace or not UTF-8, when it tokenizes to
/// the target's own tokens, or when options ask for target granularity token
/// (a contrast has one map).
Explanation explain_contrast(const Explainer& explainer, const ExplainInput& input, const ExplainOptions& options,
                             const ProgressCallback& progress = {});

}  // namespace atman
