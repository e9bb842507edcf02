#include "atman/methods/registry.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "atman/core/names.h"
#include "atman/core/shaping.h"
#include "atman/core/unit_labels.h"
#include "atman/methods/attnlrp.h"
#include "atman/methods/baseline_passes.h"
#include "atman/methods/chefer.h"
#include "atman/methods/ig.h"
#include "atman/methods/ixg.h"
#include "atman/methods/loo.h"
#include "atman/methods/rollout.h"
#include "atman/runtime/memory_meter.h"

namespace atman {
namespace {

struct MethodInfo {
  Method method;
  const char* name;
  const char* display_name;
  const char* relevance;
};

// The one table of the methods' names.
const std::vector<MethodInfo>& methods() {
  static const std::vector<MethodInfo> table = {
      {Method::kAtman, "atman", "AtMan", "CE(suppressed) - CE(clean)"},
      {Method::kInputXGradient, "ixg", "Input x Gradient",
       "embedding x gradient of log p(target), summed over the hidden size"},
      {Method::kIntegratedGradients, "ig", "Integrated Gradients",
       "integrated gradients of log p(target) from a zero embedding, summed over the hidden size"},
      {Method::kRollout, "rollout", "Attention rollout",
       "attention rollout, row of the position predicting the target"},
      {Method::kChefer, "chefer", "Chefer et al.",
       "gradient-weighted attention relevance (Chefer et al.), row of the predicting position"},
      {Method::kLeaveOneOut, "loo", "Leave-one-out",
       "CE(unit deleted from the input) - CE(clean); target positions 0"},
      {Method::kAttnLrp, "attnlrp", "AttnLRP",
       "AttnLRP relevance of the target's logit (Input x Gradient through forward_lrp), summed over the hidden size"},
  };
  return table;
}

const MethodInfo* find_method(const std::string& name) {
  for (const MethodInfo& m : methods()) {
    if (name == m.name) return &m;
  }
  return nullptr;
}

// Per-position values [S, T] summed over each group's members: [N, T].
at::Tensor group_values(const std::vector<std::vector<int64_t>>& groups, const at::Tensor& values) {
  const at::Tensor v = values.to(at::kDouble).contiguous();
  const auto acc = v.accessor<double, 2>();
  const int64_t t = v.size(1);
  at::Tensor out = at::zeros({static_cast<int64_t>(groups.size()), t}, at::kDouble);
  auto o = out.accessor<double, 2>();
  for (size_t g = 0; g < groups.size(); ++g) {
    for (int64_t p : groups[g]) {
      for (int64_t k = 0; k < t; ++k) o[g][k] += acc[p][k];
    }
  }
  return out;
}

// The method's values [S, T] and the model rows it evaluated (the clean pass not included).
at::Tensor baseline_values(const Model& model, Method method, const PreparedInput& prepared,
                           const BaselineOptions& baseline, int64_t batch, int64_t* rows) {
  switch (method) {
    case Method::kInputXGradient: *rows = 1; return input_x_gradient(model, prepared);
    case Method::kIntegratedGradients:
      *rows = baseline.ig_steps;
      return integrated_gradients(model, prepared, baseline.ig_steps, batch, baseline.ig_rule);
    case Method::kRollout: *rows = 1; return attention_rollout_relevance(model, prepared);
    case Method::kChefer: *rows = 1; return chefer_relevance(model, prepared);
    case Method::kAttnLrp: *rows = 1; return attnlrp_relevance(model, prepared);
    case Method::kAtman:
    case Method::kLeaveOneOut: break;
  }
  throw std::invalid_argument("baseline_values: " + method_name(method) + " is not a gradient or attention baseline");
}

}  // namespace

std::string method_name(Method method) {
  for (const MethodInfo& m : methods()) {
    if (m.method == method) return m.name;
  }
  return "atman";
}

Method parse_method(const std::string& name) {
  if (const MethodInfo* m = find_method(name)) return m->method;
  throw std::invalid_argument("method must be " + choice_text(method_names()) + ", got \"" + name + "\"");
}

std::vector<Method> all_methods() {
  std::vector<Method> out;
  for (const MethodInfo& m : methods()) out.push_back(m.method);
  return out;
}

std::vector<std::string> method_names() {
  std::vector<std::string> out;
  for (const MethodInfo& m : methods()) out.emplace_back(m.name);
  return out;
}

bool method_needs_attentions(Method method) { return method == Method::kRollout || method == Method::kChefer; }

std::string method_display_name(const std::string& method) {
  const MethodInfo* m = find_method(method);
  return m ? m->display_name : method;
}

std::string method_relevance_description(const std::string& method) {
  const MethodInfo* m = find_method(method);
  return m ? m->relevance : "relevance";
}

void check_method_supported(const Model& model, Method method) {
  if (method_needs_attentions(method) && !model.capabilities().forward_with_attentions) {
    throw std::invalid_argument(fmt::format(
        "{}: model {} has no method forward_with_attentions(embeddings, modifier) (docs/optional_methods.md): method {} needs "
        "every layer's attention probabilities",
        model.path(), model.config().name, method_name(method)));
  }
  if (method == Method::kAttnLrp) check_attnlrp_supported(model);
}

at::Tensor target_log_probs(const Model& model, const PreparedInput& prepared, const at::Tensor& embeddings) {
  TORCH_CHECK(embeddings.dim() == 3 && embeddings.size(0) == 1 && embeddings.size(1) == prepared.sequence.length(),
              "target_log_probs: expected embeddings [1, ", prepared.sequence.length(), ", D], got ",
              embeddings.sizes());
  c10::InferenceMode guard;
  return baseline::score_rows(model, prepared.sequence, embeddings)[0].clone();
}

Explanation explanation_from_values(const Model& model, const PreparedInput& prepared, const at::Tensor& values,
                                    const at::Tensor& clean_log_probs, Method method,
                                    const ExplainOptions& options) {
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  TORCH_CHECK(values.dim() == 2 && values.size(0) == seq.length() && values.size(1) == t,
              "explanation_from_values: expected values [", seq.length(), ", ", t, "], got ", values.sizes());
  TORCH_CHECK(clean_log_probs.numel() == t, "explanation_from_values: expected ", t, " log-probs, got ",
              clean_log_probs.numel());
  const at::Tensor lp = clean_log_probs.to(at::kDouble).contiguous().view({t});
  std::vector<double> ce;
  for (int64_t k = 0; k < t; ++k) ce.push_back(-lp[k].item<double>());
  Explanation e = assemble_explanation(model.config(), method_name(method), seq, prepared.groups,
                                       group_values(prepared.groups, values), ce, options);
  label_units(prepared.labels, prepared.chosen_granularity, e);  // core/unit_labels.h
  return e;
}

Explanation explain_with_method(const Explainer& explainer, Method method, const ExplainInput& input,
                                const ExplainOptions& options, const BaselineOptions& baseline,
                                const ProgressCallback& progress) {
  if (method == Method::kAtman) return explainer.explain(input, options, progress);
  if (input.contrast) {
    throw std::invalid_argument("a contrastive explanation is AtMan's: method " + method_name(method) +
                                " takes no contrast");
  }
  const Model& model = explainer.model();
  check_method_supported(model, method);
  if (baseline.ig_steps < 1) {
    throw std::invalid_argument(fmt::format("IG steps must be >= 1, got {}", baseline.ig_steps));
  }
  if (options.batch_size < 0) {
    throw std::invalid_argument(fmt::format("batch size must be >= 0, got {}", options.batch_size));
  }
  const int64_t threads = set_threads(options.threads);
  const auto start = std::chrono::steady_clock::now();
  const PreparedInput prepared = explainer.prepare(input, options);
  const at::Tensor clean = target_log_probs(model, prepared, prepared.embeddings);

  // IG's points per pass; every other baseline runs one pass.
  const int64_t batch = method != Method::kIntegratedGradients ? 1
                        : options.batch_size > 0              ? std::min(options.batch_size, baseline.ig_steps)
                                                              : std::min<int64_t>(baseline.ig_steps, 32);
  int64_t method_rows = 0;
  const at::Tensor values = method == Method::kLeaveOneOut
                                ? leave_one_out(model, input, prepared, &method_rows)
                                : baseline_values(model, method, prepared, baseline, batch, &method_rows);
  const int64_t rows = 1 + method_rows;  // model rows evaluated, the clean pass included
  if (!at::isfinite(values).all().item<bool>()) {
    throw std::runtime_error(fmt::format("{}: method {} gave NaN or Inf relevance on model {}", model.path(),
                                         method_name(method), model.config().name));
  }
  if (progress) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress({rows, rows, elapsed});
  }
  Explanation e = explanation_from_values(model, prepared, values, clean, method, options);
  if (method == Method::kIntegratedGradients) {
    e.method_params.emplace_back("ig_steps", static_cast<double>(baseline.ig_steps));
    e.method_text_params.emplace_back("ig_method", ig_rule_name(baseline.ig_rule));
    const at::Tensor zero = target_log_probs(model, prepared, at::zeros_like(prepared.embeddings));
    const double gap = (clean.sum() - zero.sum()).item<double>() - values.sum().item<double>();
    e.method_params.emplace_back("ig_completeness_gap", gap);
  }
  if (method == Method::kAttnLrp) {  // LRP's conservation: sum of R = logit - what biases and softmax absorb
    const double logit = attnlrp_logits(model, prepared).sum().item<double>();
    e.method_params.emplace_back("explained_logit", logit);
    e.method_params.emplace_back("conservation_gap", logit - values.sum().item<double>());
  }
  e.stats.forward_passes = rows;
  e.stats.positions_computed = rows * prepared.sequence.length();
  e.stats.sweep_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  e.stats.peak_memory_mb = resident_peak_mb();
  e.stats.threads = threads;
  e.stats.batch_size = batch;
  finish_explanation(e, input.image_rgb);  // the image's size, --postprocess/--normalize (core/shaping.h)
  return e;
}

}  // namespace atman
