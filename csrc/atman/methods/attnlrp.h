#pragma once
// AttnLRP (Achtibat et al., ICML 2024, arXiv 2402.05602), `--method attnlrp`:
// layer-wise relevance propagation of the target's logit with the paper's
// rules for attention, computed as Input x Gradient through the model's
// optional forward_lrp (docs/optional_methods.md), whose forward detaches
// the right factors so that the gradient follows the rules:
//   R[i, t] = sum_d E[i, d] * d logit_t / d E[i, d]
// with logit_t the raw logit of target token t at its prediction row
// (teacher forcing). LRP explains the logit, not its log-probability: the
// relevances of all positions (BOS and image patches included) sum to
// logit_t minus what the biases and the softmax rule absorb
// (docs/method.md, "AttnLRP").
//
// Usage:
//   at::Tensor values = attnlrp_relevance(model, prepared);  // float64 [S, T]
//   at::Tensor logits = attnlrp_logits(model, prepared);     // float64 [T]

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

/// Throws std::invalid_argument with one line naming forward_lrp when the model lacks it.
void check_attnlrp_supported(const Model& model);

/// Per-position, per-target relevance, float64 [S, T].
at::Tensor attnlrp_relevance(const Model& model, const PreparedInput& prepared);

/// The explained logits, float64 [T]: forward_lrp's logit of each target
/// token at its prediction row (equal to the plain model's up to rounding).
at::Tensor attnlrp_logits(const Model& model, const PreparedInput& prepared);

}  // namespace atman
