#pragma once
// The method registry: the explanation methods of `--method` by name, and one
// explanation with any of them on the same prepared input as AtMan (same
// sequence, same explained units, same Explanation).
//
// Every method gives one relevance value per explained position (and per
// target token), with AtMan's sign convention: larger means more important
// for the target. The score that gradients are taken of is the target's
// log-probability under teacher forcing, log p(t | positions before t), per
// target token t; R[i] is the sum over the target tokens (the gradient of the
// whole target's log-probability, by linearity). With word/sentence
// granularity, the values of a group's members are summed.
//
// Usage:
//   auto model = Model::load("tiny_magma.pt");
//   Explainer explainer(model);
//   BaselineOptions baseline;  baseline.ig_steps = 64;
//   Explanation e = explain_with_method(explainer, parse_method("ig"), input, ExplainOptions{}, baseline);

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/core/explanation.h"
#include "atman/core/options.h"
#include "atman/methods/ig.h"
#include "atman/model/model.h"

namespace atman {

/// The explanation methods of `--method`.
enum class Method {
  kAtman,                // the perturbation sweep (explainer.h)
  kInputXGradient,       // "ixg" (ixg.h)
  kIntegratedGradients,  // "ig" (ig.h)
  kRollout,              // "rollout" (rollout.h)
  kChefer,               // "chefer" (chefer.h)
  kLeaveOneOut,          // "loo" (loo.h)
  kAttnLrp,              // "attnlrp" (attnlrp.h)
};

/// "atman", "ixg", "ig", "rollout", "chefer", "loo", "attnlrp".
std::string method_name(Method method);
/// The inverse of method_name; throws std::invalid_argument naming the choices.
Method parse_method(const std::string& name);
/// All methods, in the order above.
std::vector<Method> all_methods();
/// method_name of all_methods(), for the command line's choices.
std::vector<std::string> method_names();
/// True for rollout and chefer (they need forward_with_attentions).
bool method_needs_attentions(Method method);
/// For reports, by method_name (unknown names are returned as given):
/// "AtMan", "Input x Gradient", "Integrated Gradients", "Attention rollout", "Chefer et al.",
/// "Leave-one-out", "AttnLRP".
std::string method_display_name(const std::string& method);
/// What one relevance value is, e.g. "CE(suppressed) - CE(clean)" for atman.
std::string method_relevance_description(const std::string& method);

/// Parameters of the baselines, with their defaults.
struct BaselineOptions {
  /// Integrated Gradients: interpolation points of the quadrature rule (>= 1).
  int64_t ig_steps = 32;
  /// Integrated Gradients: the quadrature rule of the path integral (ig.h).
  IgRule ig_rule = IgRule::kRiemannMiddle;
};

/// Throws std::invalid_argument with one line when `model` cannot run
/// `method` (rollout/chefer without forward_with_attentions, attnlrp without forward_lrp).
void check_method_supported(const Model& model, Method method);

/// One explanation with any method. kAtman runs explainer.explain; the
/// others compute gradients/attentions on the same prepared input (same
/// sequence, same explained units). ExplainOptions::batch_size is IG's
/// interpolation points per pass (0: min(ig_steps, 32)); threads as for
/// AtMan. Explanation::method is set; Explanation::method_params holds
/// ig_steps and ig_completeness_gap (log p(E) - log p(0) - sum of R, summed
/// over the targets: one more pass at the zero baseline) for ig, with
/// method_text_params' ig_method (the quadrature rule); for attnlrp,
/// explained_logit and conservation_gap (that logit - sum of R). stats.peak_memory_mb is the process's resident high-water mark.
Explanation explain_with_method(const Explainer& explainer, Method method, const ExplainInput& input,
                                const ExplainOptions& options, const BaselineOptions& baseline = {},
                                const ProgressCallback& progress = {});

/// The target's log-probabilities, float64 [T], of the model on `embeddings`
/// [1, S, D] (teacher forcing, all modifiers 1). For IG's completeness check
/// (score(E) - score(0)) and each target's clean ce.
at::Tensor target_log_probs(const Model& model, const PreparedInput& prepared, const at::Tensor& embeddings);

/// Builds the Explanation of a non-AtMan method from per-position values
/// [S, T]: the same units (groups summed) and targets as AtMan's
/// (assemble_explanation); `clean_log_probs` [T] gives each target's ce = -log p.
Explanation explanation_from_values(const Model& model, const PreparedInput& prepared, const at::Tensor& values,
                                    const at::Tensor& clean_log_probs, Method method,
                                    const ExplainOptions& options);

}  // namespace atman
