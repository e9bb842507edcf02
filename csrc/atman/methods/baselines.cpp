#include "atman/methods/baselines.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/script.h>

#include "atman/model/sequence.h"

namespace atman {
namespace {

double peak_resident_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return 0.0;
}

// Gradients are wanted for the embeddings (or the attention maps) only: the
// weights' own gradients would cost memory and time for nothing.
void freeze_parameters(const Model& model) {
  for (at::Tensor p : model.module().parameters()) {
    if (p.requires_grad()) p.requires_grad_(false);
  }
}

std::vector<int64_t> prediction_rows(const Sequence& seq) {
  std::vector<int64_t> rows;
  for (int64_t t = 0; t < static_cast<int64_t>(seq.target_ids.size()); ++t) rows.push_back(seq.prediction_row(t));
  return rows;
}

void check_finite_logits(const Model& model, const at::Tensor& logits) {
  if (!at::isfinite(logits.detach()).all().item<bool>()) {
    throw std::runtime_error(fmt::format("{}: model {} produced NaN or Inf logits", model.path(),
                                         model.config().name));
  }
}

// log p(target t) from logits rows [B, T, V] -> float64 [B, T] (in the graph).
at::Tensor log_probs_of_targets(const Sequence& seq, const at::Tensor& rows) {
  const int64_t b = rows.size(0), t = rows.size(1);
  const at::Tensor ids = at::tensor(seq.target_ids, at::kLong).view({1, t, 1}).expand({b, t, 1});
  return at::log_softmax(rows.to(at::kDouble), -1).gather(2, ids).squeeze(2);
}

// The score of every row of `embeddings` [B, S, D]: float64 [B, T]. Uses
// hidden_states + lm_head on the target rows when the model has them.
at::Tensor score_rows(const Model& model, const Sequence& seq, const at::Tensor& embeddings) {
  const int64_t b = embeddings.size(0), s = embeddings.size(1);
  const at::Tensor ones = at::ones({b, s}, at::kFloat);
  const std::vector<int64_t> rows_vec = prediction_rows(seq);
  const at::Tensor rows = at::tensor(rows_vec, at::kLong);
  const int64_t t = rows.size(0);
  at::Tensor logits;
  if (model.capabilities().target_only()) {
    const at::Tensor hidden = model.hidden_states(embeddings, ones).index_select(1, rows);
    logits = model.lm_head(hidden.reshape({b * t, hidden.size(2)})).view({b, t, -1});
  } else {
    logits = model.forward(embeddings, ones).index_select(1, rows);
  }
  check_finite_logits(model, logits);
  return log_probs_of_targets(seq, logits);
}

// A copy of the prepared (inference-mode) embeddings usable in autograd.
at::Tensor plain_embeddings(const PreparedInput& prepared) {
  c10::InferenceMode off(false);
  return prepared.embeddings.clone().detach();
}

struct AttentionPass {
  at::Tensor logits;             // [1, S, V]
  std::vector<at::Tensor> maps;  // per layer [1, H, S, S]
};

AttentionPass forward_with_attentions(const Model& model, const at::Tensor& embeddings) {
  const int64_t s = embeddings.size(1);
  const at::Tensor ones = at::ones({1, s}, at::kFloat);
  c10::IValue out;
  try {
    out = model.module().get_method("forward_with_attentions")({embeddings, ones});
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    why = why.substr(0, why.find('\n'));
    throw std::runtime_error(fmt::format("{}: method forward_with_attentions failed: {}", model.path(), why));
  }
  const std::string expected = "expected (logits [1, S, V], List[Tensor [1, H, S, S]])";
  if (!out.isTuple() || out.toTupleRef().elements().size() != 2) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned {}, {}", model.path(),
                                         out.tagKind(), expected));
  }
  const auto& elements = out.toTupleRef().elements();
  AttentionPass pass;
  if (!elements[0].isTensor() || !elements[1].isTensorList()) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned ({}, {}), {}", model.path(),
                                         elements[0].tagKind(), elements[1].tagKind(), expected));
  }
  pass.logits = elements[0].toTensor();
  for (const at::Tensor& map : elements[1].toTensorVector()) pass.maps.push_back(map);
  const ModelConfig& c = model.config();
  if (pass.logits.dim() != 3 || pass.logits.size(0) != 1 || pass.logits.size(1) != s ||
      pass.logits.size(2) != c.vocab_size) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned logits {}, expected [1, {}, {}]",
                                         model.path(), c10::str(pass.logits.sizes()), s, c.vocab_size));
  }
  if (pass.maps.empty()) {
    throw std::runtime_error(fmt::format("{}: forward_with_attentions returned no attention maps", model.path()));
  }
  for (size_t l = 0; l < pass.maps.size(); ++l) {
    const at::Tensor& m = pass.maps[l];
    if (m.dim() != 4 || m.size(0) != 1 || m.size(2) != s || m.size(3) != s) {
      throw std::runtime_error(fmt::format("{}: forward_with_attentions: map of layer {} is {}, expected [1, H, {}, {}]",
                                           model.path(), l, c10::str(m.sizes()), s, s));
    }
  }
  check_finite_logits(model, pass.logits);
  return pass;
}

at::Tensor attention_rows_to_values(const Sequence& seq, const std::vector<at::Tensor>& per_target_matrices,
                                    bool remove_identity) {
  const int64_t s = seq.length();
  const int64_t t = static_cast<int64_t>(per_target_matrices.size());
  at::Tensor values = at::zeros({s, t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) {
    at::Tensor row = per_target_matrices[k][seq.prediction_row(k)].clone();
    if (remove_identity) row[seq.prediction_row(k)] -= 1.0;
    values.select(1, k).copy_(row);
  }
  return values;
}

std::string joined_pieces(const Sequence& seq, const std::vector<int64_t>& members) {
  std::string out;
  for (int64_t p : members) out += seq.piece_at(p);
  return out;
}

}  // namespace

std::string method_name(Method method) {
  switch (method) {
    case Method::kAtman: return "atman";
    case Method::kInputXGradient: return "ixg";
    case Method::kIntegratedGradients: return "ig";
    case Method::kRollout: return "rollout";
    case Method::kChefer: return "chefer";
  }
  return "atman";
}

Method parse_method(const std::string& name) {
  for (Method m : all_methods()) {
    if (method_name(m) == name) return m;
  }
  throw std::invalid_argument("method must be atman, ixg, ig, rollout or chefer, got \"" + name + "\"");
}

std::vector<Method> all_methods() {
  return {Method::kAtman, Method::kInputXGradient, Method::kIntegratedGradients, Method::kRollout, Method::kChefer};
}

bool method_needs_attentions(Method method) { return method == Method::kRollout || method == Method::kChefer; }

std::string method_display_name(const std::string& method) {
  if (method == "atman") return "AtMan";
  if (method == "ixg") return "Input x Gradient";
  if (method == "ig") return "Integrated Gradients";
  if (method == "rollout") return "Attention rollout";
  if (method == "chefer") return "Chefer et al.";
  return method;
}

std::string method_relevance_description(const std::string& method) {
  if (method == "atman") return "CE(suppressed) - CE(clean)";
  if (method == "ixg") return "embedding x gradient of log p(target), summed over the hidden size";
  if (method == "ig") return "integrated gradients of log p(target) from a zero embedding, summed over the hidden size";
  if (method == "rollout") return "attention rollout, row of the position predicting the target";
  if (method == "chefer") return "gradient-weighted attention relevance (Chefer et al.), row of the predicting position";
  return "relevance";
}

void check_method_supported(const Model& model, Method method) {
  if (method_needs_attentions(method) && !model.capabilities().forward_with_attentions) {
    throw std::invalid_argument(fmt::format(
        "{}: model {} has no method forward_with_attentions(embeddings, modifier) (CONTRACT.md): method {} needs "
        "every layer's attention probabilities",
        model.path(), model.config().name, method_name(method)));
  }
}

at::Tensor target_log_probs(const Model& model, const PreparedInput& prepared, const at::Tensor& embeddings) {
  TORCH_CHECK(embeddings.dim() == 3 && embeddings.size(0) == 1 && embeddings.size(1) == prepared.sequence.length(),
              "target_log_probs: expected embeddings [1, ", prepared.sequence.length(), ", D], got ",
              embeddings.sizes());
  c10::InferenceMode guard;
  return score_rows(model, prepared.sequence, embeddings)[0].clone();
}

at::Tensor input_x_gradient(const Model& model, const PreparedInput& prepared) {
  freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  at::Tensor x = plain_embeddings(prepared).requires_grad_(true);
  const at::Tensor scores = score_rows(model, seq, x);  // [1, T]
  at::Tensor values = at::zeros({seq.length(), t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) {
    const at::Tensor g = torch::autograd::grad({scores.select(1, k).sum()}, {x}, {}, /*retain_graph=*/k + 1 < t)[0];
    values.select(1, k).copy_((x.detach().to(at::kDouble) * g.to(at::kDouble)).sum(-1)[0]);
  }
  return values;
}

at::Tensor integrated_gradients(const Model& model, const PreparedInput& prepared, int64_t steps, int64_t batch) {
  TORCH_CHECK(steps >= 1, "integrated_gradients: steps must be >= 1, got ", steps);
  TORCH_CHECK(batch >= 0, "integrated_gradients: batch must be >= 0, got ", batch);
  freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  const int64_t b = batch > 0 ? std::min(batch, steps) : std::min<int64_t>(steps, 32);
  const at::Tensor x = plain_embeddings(prepared);  // [1, S, D]
  std::vector<at::Tensor> grad_sums(t);
  for (int64_t begin = 0; begin < steps; begin += b) {
    const int64_t n = std::min(b, steps - begin);
    const at::Tensor alphas = ((at::arange(begin, begin + n, at::kDouble) + 0.5) / static_cast<double>(steps))
                                  .to(at::kFloat)
                                  .view({n, 1, 1});
    at::Tensor points = (alphas * x).detach().requires_grad_(true);  // [n, S, D]
    const at::Tensor scores = score_rows(model, seq, points);       // [n, T]
    for (int64_t k = 0; k < t; ++k) {
      const at::Tensor g =
          torch::autograd::grad({scores.select(1, k).sum()}, {points}, {}, /*retain_graph=*/k + 1 < t)[0];
      const at::Tensor summed = g.to(at::kDouble).sum(0);  // [S, D]
      grad_sums[k] = grad_sums[k].defined() ? grad_sums[k] + summed : summed;
    }
  }
  const at::Tensor x64 = x[0].to(at::kDouble);
  at::Tensor values = at::zeros({seq.length(), t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) {
    values.select(1, k).copy_((x64 * grad_sums[k] / static_cast<double>(steps)).sum(-1));
  }
  return values;
}

at::Tensor attention_rollout(const std::vector<at::Tensor>& maps) {
  TORCH_CHECK(!maps.empty(), "attention_rollout: no attention maps");
  at::Tensor rollout;
  for (size_t l = 0; l < maps.size(); ++l) {
    at::Tensor a = maps[l].detach().to(at::kDouble);
    if (a.dim() == 4) {
      TORCH_CHECK(a.size(0) == 1, "attention_rollout: expected a batch of 1, got ", a.sizes());
      a = a[0];
    }
    TORCH_CHECK(a.dim() == 3 && a.size(1) == a.size(2), "attention_rollout: expected maps [H, S, S], got ",
                maps[l].sizes(), " at layer ", l);
    const at::Tensor eye = at::eye(a.size(1), at::kDouble);
    const at::Tensor hat = 0.5 * (a.mean(0) + eye);
    if (rollout.defined()) {
      TORCH_CHECK(rollout.size(0) == hat.size(0), "attention_rollout: layer ", l, " has ", hat.size(0),
                  " positions, layer 0 has ", rollout.size(0));
      rollout = hat.matmul(rollout);
    } else {
      rollout = hat;
    }
  }
  return rollout;
}

at::Tensor chefer_rule(const std::vector<at::Tensor>& maps, const std::vector<at::Tensor>& grads) {
  TORCH_CHECK(!maps.empty() && maps.size() == grads.size(), "chefer_rule: expected as many gradients as maps, got ",
              grads.size(), " and ", maps.size());
  at::Tensor r;
  for (size_t l = 0; l < maps.size(); ++l) {
    at::Tensor a = maps[l].detach().to(at::kDouble);
    if (a.dim() == 4) a = a[0];
    TORCH_CHECK(a.dim() == 3 && a.size(1) == a.size(2), "chefer_rule: expected maps [H, S, S], got ",
                maps[l].sizes(), " at layer ", l);
    at::Tensor g = grads[l].defined() ? grads[l].detach().to(at::kDouble) : at::zeros_like(a);
    if (g.dim() == 4) g = g[0];
    TORCH_CHECK(g.sizes() == a.sizes(), "chefer_rule: gradient of layer ", l, " is ", grads[l].sizes(),
                ", its map ", maps[l].sizes());
    if (!r.defined()) r = at::eye(a.size(1), at::kDouble);
    const at::Tensor a_bar = (g * a).clamp_min(0.0).mean(0);
    r = r + a_bar.matmul(r);
  }
  return r;
}

at::Tensor attention_rollout_relevance(const Model& model, const PreparedInput& prepared) {
  check_method_supported(model, Method::kRollout);
  c10::InferenceMode guard;
  const AttentionPass pass = forward_with_attentions(model, prepared.embeddings);
  const at::Tensor rollout = attention_rollout(pass.maps);
  const int64_t t = static_cast<int64_t>(prepared.sequence.target_ids.size());
  return attention_rows_to_values(prepared.sequence, std::vector<at::Tensor>(t, rollout), false);
}

at::Tensor chefer_relevance(const Model& model, const PreparedInput& prepared) {
  check_method_supported(model, Method::kChefer);
  freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  // The embeddings require grad only to put the attention maps into the graph.
  at::Tensor x = plain_embeddings(prepared).requires_grad_(true);
  const AttentionPass pass = forward_with_attentions(model, x);
  const at::Tensor rows = at::tensor(prediction_rows(seq), at::kLong);
  const at::Tensor scores = log_probs_of_targets(seq, pass.logits.index_select(1, rows))[0];  // [T]
  std::vector<at::Tensor> matrices;
  for (int64_t k = 0; k < t; ++k) {
    const auto grads = torch::autograd::grad({scores[k]}, pass.maps, {}, /*retain_graph=*/k + 1 < t,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    matrices.push_back(chefer_rule(pass.maps, grads));
  }
  return attention_rows_to_values(seq, matrices, true);
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
  const at::Tensor v = values.to(at::kDouble).contiguous();
  const auto acc = v.accessor<double, 2>();
  const at::Tensor lp = clean_log_probs.to(at::kDouble).contiguous().view({t});
  Explanation e;
  e.model = model.config().name;
  e.method = method_name(method);
  e.prompt = seq.prompt;
  e.target = seq.target;
  e.params = options;
  if (seq.image_positions > 0) e.image_grid = std::make_pair(seq.grid_rows, seq.grid_cols);
  for (int64_t k = 0; k < t; ++k) {
    e.targets.push_back({seq.target_ids[k], seq.target_pieces[k], -lp[k].item<double>()});
  }
  for (const auto& members : prepared.groups) {
    ExplainedUnit unit;
    unit.index = members.front();
    unit.kind = seq.kind_of(unit.index);
    unit.members = members;
    unit.token_id = seq.token_id_at(unit.index);
    if (unit.kind == PositionKind::kImage) {
      unit.patch_row = unit.index / seq.grid_cols;
      unit.patch_col = unit.index % seq.grid_cols;
    } else {
      unit.piece = joined_pieces(seq, members);
    }
    unit.per_target.assign(t, 0.0);
    for (int64_t p : members) {
      for (int64_t k = 0; k < t; ++k) unit.per_target[k] += acc[p][k];
    }
    for (double x : unit.per_target) unit.relevance += x;
    e.units.push_back(std::move(unit));
  }
  return e;
}

Explanation explain_with_method(const Explainer& explainer, Method method, const ExplainInput& input,
                                const ExplainOptions& options, const BaselineOptions& baseline,
                                const ProgressCallback& progress) {
  if (method == Method::kAtman) return explainer.explain(input, options, progress);
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
  const int64_t s = prepared.sequence.length();
  const at::Tensor clean = target_log_probs(model, prepared, prepared.embeddings);

  at::Tensor values;
  int64_t rows = 1;  // model rows evaluated (the clean pass included)
  int64_t batch = 1;
  switch (method) {
    case Method::kInputXGradient:
      values = input_x_gradient(model, prepared);
      rows += 1;
      break;
    case Method::kIntegratedGradients:
      batch = options.batch_size > 0 ? std::min(options.batch_size, baseline.ig_steps)
                                     : std::min<int64_t>(baseline.ig_steps, 32);
      values = integrated_gradients(model, prepared, baseline.ig_steps, batch);
      rows += baseline.ig_steps;
      break;
    case Method::kRollout:
      values = attention_rollout_relevance(model, prepared);
      rows += 1;
      break;
    case Method::kChefer:
      values = chefer_relevance(model, prepared);
      rows += 1;
      break;
    case Method::kAtman: break;
  }
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
  }
  e.stats.forward_passes = rows;
  e.stats.positions_computed = rows * s;
  e.stats.sweep_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  e.stats.peak_memory_mb = peak_resident_mb();
  e.stats.threads = threads;
  e.stats.batch_size = batch;
  return e;
}

}  // namespace atman
