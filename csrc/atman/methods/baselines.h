#pragma once
// Gradient and attention baselines on the same contract model as AtMan, for
// `atman explain --method` and `atman eval` (the paper's comparison).
//
// Every method gives one relevance value per explained position (and per
// target token), with AtMan's sign convention: larger means more important
// for the target. The score that gradients are taken of is the target's
// log-probability under teacher forcing, log p(t | positions before t),
// per target token t; R[i] is the sum over the target tokens (the gradient
// of the whole target's log-probability, by linearity).
//
//   ixg      Input x Gradient on the layer-0 embeddings E [S, D]:
//              R[i, t] = sum_d E[i, d] * d log p(t) / d E[i, d]
//   ig       Integrated Gradients (Sundararajan et al. 2017), zero baseline
//            for all of E at once, midpoint Riemann sum over `ig_steps`
//            points alpha_k = (k + 1/2) / steps, run `batch` points per pass:
//              R[i, t] = sum_d E[i, d] * mean_k d log p(t) / d E[i, d] (alpha_k E)
//            Completeness: sum_i R[i, t] ~= log p(t)(E) - log p(t)(0).
//   rollout  Attention rollout (Abnar & Zuidema 2020): per layer the heads'
//            mean A_l, A^_l = (A_l + I) / 2, rollout = A^_L ... A^_1;
//            R[i, t] = rollout[q_t, i] with q_t the row predicting target t.
//            Gradient-free (its value is the same for every target row's
//            own query; rows sum to 1).
//   chefer   Chefer et al. 2021 ("Generic attention-model explainability"),
//            self-attention rule: R = I; for l = 1..L:
//              A-bar_l = mean_heads( max(0, dlog p(t)/dA_l * A_l) ),  R += A-bar_l R;
//            R[i, t] = (R - I)[q_t, i]. The identity (the query's own residual
//            stream, a constant 1 independent of input and target) is taken
//            out so that the query position is scored only by what reaches
//            it through attention, in the gradient's units like every other
//            position (Chefer et al.'s ViT code likewise drops the [CLS]
//            query's own entry).
//
// Reduction to one value per position: ixg and ig sum E * gradient over the
// hidden dimension D (signed: the first-order contribution of the position's
// embedding to the score). With word/sentence granularity, the values of a
// group's members are summed.
//
// Rollout and chefer need the optional contract method
// forward_with_attentions (torchscript_models/CONTRACT.md); ixg and ig use
// hidden_states + lm_head when the model has them (only the target rows go
// through the LM head, as AtMan's target-only passes do), else forward.
//
// Usage:
//   auto model = Model::load("tiny_magma.pt");
//   Explainer explainer(model);
//   BaselineOptions baseline;  baseline.ig_steps = 64;
//   Explanation e = explain_with_method(explainer, Method::kIntegratedGradients, input,
//                                       ExplainOptions{}, baseline);

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/core/explanation.h"
#include "atman/core/options.h"
#include "atman/model/model.h"

namespace atman {

/// The explanation methods of `--method`.
enum class Method {
  kAtman,                // the perturbation sweep (explainer.h)
  kInputXGradient,       // "ixg"
  kIntegratedGradients,  // "ig"
  kRollout,              // "rollout"
  kChefer,               // "chefer"
};

/// "atman", "ixg", "ig", "rollout", "chefer".
std::string method_name(Method method);
/// The inverse of method_name; throws std::invalid_argument naming the choices.
Method parse_method(const std::string& name);
/// All methods, in the order above.
std::vector<Method> all_methods();
/// True for rollout and chefer (they need forward_with_attentions).
bool method_needs_attentions(Method method);
/// For reports, by method_name (unknown names are returned as given):
/// "AtMan", "Input x Gradient", "Integrated Gradients", "Attention rollout", "Chefer et al.".
std::string method_display_name(const std::string& method);
/// What one relevance value is, e.g. "CE(suppressed) - CE(clean)" for atman.
std::string method_relevance_description(const std::string& method);

/// Parameters of the baselines, with their defaults.
struct BaselineOptions {
  /// Integrated Gradients: interpolation points of the Riemann sum (>= 1).
  int64_t ig_steps = 32;
};

/// Throws std::invalid_argument with one line when `model` cannot run
/// `method` (rollout/chefer without forward_with_attentions).
void check_method_supported(const Model& model, Method method);

/// One explanation with any method. kAtman runs explainer.explain; the
/// others compute gradients/attentions on the same prepared input (same
/// sequence, same explained units). ExplainOptions::batch_size is IG's
/// interpolation points per pass (0: min(ig_steps, 32)); threads as for
/// AtMan. Explanation::method is set; Explanation::method_params holds
/// ig_steps for ig. stats.peak_memory_mb is the process's resident high-water mark.
Explanation explain_with_method(const Explainer& explainer, Method method, const ExplainInput& input,
                                const ExplainOptions& options, const BaselineOptions& baseline = {},
                                const ProgressCallback& progress = {});

// ---- The computations, on a prepared input (public for tests) --------------

/// Per-position, per-target values, float64 [S, T] (S = sequence length).
/// `batch` is IG's points per pass (0: min(steps, 32)).
at::Tensor input_x_gradient(const Model& model, const PreparedInput& prepared);
at::Tensor integrated_gradients(const Model& model, const PreparedInput& prepared, int64_t steps,
                                int64_t batch = 0);
at::Tensor attention_rollout_relevance(const Model& model, const PreparedInput& prepared);
at::Tensor chefer_relevance(const Model& model, const PreparedInput& prepared);

/// The target's log-probabilities, float64 [T], of the model on `embeddings`
/// [1, S, D] (teacher forcing, all modifiers 1). For IG's completeness check
/// (score(E) - score(0)).
at::Tensor target_log_probs(const Model& model, const PreparedInput& prepared, const at::Tensor& embeddings);

/// Attention rollout of per-layer maps, each [H, S, S] or [1, H, S, S]
/// (rows: queries, summing to 1): the [S, S] product (A^_L ... A^_1) with
/// A^_l = (mean_h A_l + I) / 2, float64.
at::Tensor attention_rollout(const std::vector<at::Tensor>& maps);
/// Chefer's rule on per-layer maps and their gradients (same shapes):
/// R = I; R += mean_h(max(0, G_l * A_l)) R per layer in order; returns R, float64 [S, S].
at::Tensor chefer_rule(const std::vector<at::Tensor>& maps, const std::vector<at::Tensor>& grads);

/// Builds the Explanation of a non-AtMan method from per-position values
/// [S, T]: the same units (groups summed) and targets as AtMan's;
/// `clean_log_probs` [T] gives each target's ce = -log p.
Explanation explanation_from_values(const Model& model, const PreparedInput& prepared, const at::Tensor& values,
                                    const at::Tensor& clean_log_probs, Method method,
                                    const ExplainOptions& options);

}  // namespace atman
