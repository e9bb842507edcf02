#include "atman/core/pass_runner.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include "atman/base/text.h"
#include "atman/io/error_text.h"
#include "atman/model/method_checks.h"

namespace atman {
namespace {

/// The published algorithm: forward() and its full [B, S, V] logits.
class FullLogitsRunner final : public PassRunner {
 public:
  FullLogitsRunner(std::shared_ptr<const CompiledModel> compiled, SweepInput input)
      : PassRunner(std::move(compiled), std::move(input)) {}
  at::Tensor target_cross_entropy(const at::Tensor& modifiers) override { return full_logits_pass(modifiers); }
  std::string name() const override { return "full-logits"; }
};

/// hidden_states() then lm_head() on the rows before target tokens only.
class TargetOnlyRunner final : public PassRunner {
 public:
  TargetOnlyRunner(std::shared_ptr<const CompiledModel> compiled, SweepInput input)
      : PassRunner(std::move(compiled), std::move(input)) {}
  at::Tensor target_cross_entropy(const at::Tensor& modifiers) override {
    const int64_t b = modifiers.size(0), s = modifiers.size(1);
    const at::Tensor hidden =
        compiled_->hidden_states(embeddings_, control_rows(modifiers), input_.control).index_select(1, rows_);
    counters_.calls += 1;
    counters_.positions += b * s;
    counters_.attended += b * s * s;
    return cross_entropy_from_hidden(hidden);
  }
  std::string name() const override { return "target-only"; }
};

/// prefix_cache() once over the positions before the first prediction row;
/// each batch computes from its smallest first-suppressed position on.
class PrefixReuseRunner final : public PassRunner {
 public:
  PrefixReuseRunner(std::shared_ptr<const CompiledModel> compiled, SweepInput input)
      : PassRunner(std::move(compiled), std::move(input)) {
    length_ = embeddings_.size(1);
    prefix_end_ = *std::min_element(input_.prediction_rows.begin(), input_.prediction_rows.end());
    const ModelConfig& c = compiled_->model().config();
    width_ = c.hidden_size;
    heads_ = c.num_heads;
  }

  at::Tensor target_cross_entropy(const at::Tensor& modifiers) override {
    const int64_t b = modifiers.size(0), s = length_;
    TORCH_CHECK(modifiers.dim() == 2 && modifiers.size(1) == s, "prefix-reuse: expected modifiers [B, ", s,
                "], got ", modifiers.sizes());
    const std::vector<int64_t> firsts = first_suppressed(modifiers);
    const int64_t start = std::min(prefix_end_, *std::min_element(firsts.begin(), firsts.end()));
    at::Tensor hidden;
    const Control control = input_.control;
    if (start == 0 && !control_methods(compiled_->model(), control).has_hidden_states) {  // nothing shared
      return full_logits_pass(modifiers);
    }
    if (start == 0) {  // nothing shared: a whole pass
      hidden = compiled_->hidden_states(embeddings_, control_rows(modifiers), control).index_select(1, rows_);
    } else {
      const at::Tensor cache = prefix().narrow(3, 0, start);
      const at::Tensor suffix = embeddings_.narrow(1, start, s - start);
      hidden = compiled_->hidden_states_from_cache(suffix, cache, control_rows(modifiers), control)
                   .index_select(1, rows_ - start);
    }
    counters_.calls += 1;
    counters_.positions += b * (s - start);
    counters_.attended += b * (s - start) * s;
    return cross_entropy_from_hidden(hidden);
  }

  std::vector<WorkUnit> plan(const at::Tensor& modifiers, int64_t batch_size) const override {
    std::vector<int64_t> starts = first_suppressed(modifiers);
    for (int64_t& v : starts) v = std::min(v, prefix_end_);
    return plan_prefix_passes(starts, length_, batch_size, width_, heads_, kCallOverhead);
  }

  std::string name() const override { return "prefix-reuse"; }

 private:
  // A model call costs about as much as this many extra positions (interpreter
  // and per-layer work that does not grow with the batch).
  static constexpr double kCallOverhead = 24.0;

  const at::Tensor& prefix() {
    if (!cache_.defined()) {
      cache_ = compiled_->prefix_cache(embeddings_.narrow(1, 0, prefix_end_)).contiguous();
      counters_.calls += 1;
      counters_.positions += prefix_end_;
      counters_.attended += prefix_end_ * prefix_end_;
    }
    return cache_;
  }

  int64_t length_ = 0;
  int64_t prefix_end_ = 0;  // the first prediction row: every pass starts at or before it
  int64_t width_ = 0;
  int64_t heads_ = 0;
  at::Tensor cache_;        // [L, 2, H, prefix_end_, dh], model dtype
};

// Floats alive per batch row in one layer when `queries` query rows attend
// `keys` keys: activations, attention scores (three copies) and the keys and
// values of all positions (concatenated from the cache, and a transposed copy
// for the score product: about 6 copies of [keys, D] measured).
double row_floats(int64_t queries, int64_t keys, int64_t width, int64_t heads) {
  return static_cast<double>(queries) * (16.0 * width + 3.0 * heads * keys) + 6.0 * keys * width;
}

}  // namespace

std::vector<int64_t> WorkUnit::row_indices() const {
  if (!rows.empty()) return rows;
  std::vector<int64_t> out(std::max<int64_t>(0, end - begin));
  std::iota(out.begin(), out.end(), begin);
  return out;
}

std::vector<WorkUnit> split_work(int64_t rows, int64_t batch_size) {
  TORCH_CHECK(batch_size > 0, "split_work: batch size must be positive, got ", batch_size);
  std::vector<WorkUnit> units;
  for (int64_t begin = 0; begin < rows; begin += batch_size) units.emplace_back(begin, std::min(rows, begin + batch_size));
  return units;
}

std::vector<int64_t> first_suppressed(const at::Tensor& modifiers) {
  TORCH_CHECK(modifiers.dim() == 2, "first_suppressed: expected modifiers [N, S], got ", modifiers.sizes());
  const at::Tensor m = modifiers.to(at::kFloat).contiguous();
  const int64_t n = m.size(0), s = m.size(1);
  const float* data = m.data_ptr<float>();
  std::vector<int64_t> out(n, s);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < s; ++j) {
      if (data[i * s + j] != 1.0f) {
        out[i] = j;
        break;
      }
    }
  }
  return out;
}

std::vector<WorkUnit> plan_prefix_passes(const std::vector<int64_t>& starts, int64_t length, int64_t batch_size,
                                         int64_t width, int64_t heads, double call_overhead) {
  TORCH_CHECK(batch_size > 0, "plan_prefix_passes: batch size must be positive, got ", batch_size);
  const int64_t n = static_cast<int64_t>(starts.size());
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return starts[a] < starts[b]; });
  // best[i]: least cost of the first i sorted rows; a run [j, i) costs
  // call_overhead + (i - j) * (length - start of row j). Memory: the run's
  // rows may hold no more than batch_size rows of full length.
  const double budget = static_cast<double>(batch_size) * row_floats(length, length, width, heads);
  std::vector<double> best(n + 1, std::numeric_limits<double>::infinity());
  std::vector<int64_t> cut(n + 1, 0);
  best[0] = 0.0;
  for (int64_t j = 0; j < n; ++j) {
    const int64_t queries = length - std::clamp<int64_t>(starts[order[j]], 0, length);
    const double per_row = std::max(1.0, row_floats(std::max<int64_t>(queries, 1), length, width, heads));
    const int64_t most = std::max<int64_t>(1, static_cast<int64_t>(budget / per_row));
    for (int64_t i = j + 1; i <= n && i - j <= most; ++i) {
      const double cost = best[j] + call_overhead + static_cast<double>(i - j) * (queries + 1);
      if (cost < best[i]) {
        best[i] = cost;
        cut[i] = j;
      }
    }
  }
  std::vector<WorkUnit> units;
  for (int64_t i = n; i > 0; i = cut[i]) {
    units.emplace_back(std::vector<int64_t>(order.begin() + cut[i], order.begin() + i));
  }
  std::reverse(units.begin(), units.end());
  return units;
}

// --- CompiledModel -------------------------------------------------------------

std::shared_ptr<const CompiledModel> CompiledModel::compile(const Model& model, Precision precision) {
  if (precision == Precision::kFloat32) return as_loaded(model);
  std::shared_ptr<CompiledModel> out(new CompiledModel(model));
  out->precision_ = precision;
  // to() changes tensors in place: the bfloat16 copy is a deep one.
  out->owned_ = std::make_unique<torch::jit::Module>(model.module().deepcopy());
  out->owned_->to(at::kBFloat16);
  out->module_ = out->owned_.get();
  return out;
}

std::shared_ptr<const CompiledModel> CompiledModel::as_loaded(const Model& model) {
  std::shared_ptr<CompiledModel> out(new CompiledModel(model));
  out->module_ = &model.module();
  return out;
}

CompiledModel::CompiledModel(const Model& model) : model_(model) {}
CompiledModel::~CompiledModel() = default;

at::ScalarType CompiledModel::dtype() const {
  return precision_ == Precision::kBFloat16 ? at::kBFloat16 : at::kFloat;
}

at::Tensor CompiledModel::call(const char* name, std::vector<at::Tensor> inputs,
                               const std::vector<int64_t>& expected) const {
  std::vector<c10::IValue> args;
  for (at::Tensor& t : inputs) args.emplace_back(t.scalar_type() == dtype() ? t : t.to(dtype()));
  c10::IValue out;
  try {
    // The plain plan (docs/speed.md#fixed-costs): no profiling run and no
    // per-method optimisation by the graph executor (thread-local setting).
    const torch::jit::GraphOptimizerEnabledGuard plain_plan(false);
    out = module_->get_method(name)(std::move(args));
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("{}: method {} failed{}: {}", model_.path(), name,
                                         precision_ == Precision::kBFloat16 ? " in bfloat16" : "",
                                         first_line(e.what_without_backtrace())));
  }
  if (!out.isTensor()) {
    throw std::runtime_error(fmt::format("{}: method {} returned {}, expected {} {}", model_.path(), name,
                                         out.tagKind(), dtype_name(dtype()), shape_text(expected)));
  }
  check_method_output(out.toTensor(), model_.path(), name, dtype(), expected);
  return out.toTensor();
}

at::Tensor CompiledModel::forward(const at::Tensor& embeddings, const at::Tensor& modifier, Control control) const {
  check_forward_inputs(embeddings, modifier);
  const ControlMethods methods = control_methods(model_, control);
  check_has_method(model_, methods.has_forward, methods.forward);
  return call(methods.forward, {embeddings, modifier}, forward_shape(model_.config(), modifier));
}

at::Tensor CompiledModel::hidden_states(const at::Tensor& embeddings, const at::Tensor& modifier,
                                        Control control) const {
  const ControlMethods methods = control_methods(model_, control);
  check_has_method(model_, methods.has_hidden_states, methods.hidden_states);
  return call(methods.hidden_states, {embeddings, modifier}, hidden_states_shape(model_.config(), modifier));
}

at::Tensor CompiledModel::lm_head(const at::Tensor& hidden) const {
  check_has_method(model_, model_.capabilities().lm_head, "lm_head");
  return call("lm_head", {hidden}, lm_head_shape(model_.config(), hidden));
}

at::Tensor CompiledModel::prefix_cache(const at::Tensor& embeddings) const {
  check_has_method(model_, model_.capabilities().prefix_cache, "prefix_cache");
  return call("prefix_cache", {embeddings}, prefix_cache_shape(model_.config(), embeddings));
}

at::Tensor CompiledModel::hidden_states_from_cache(const at::Tensor& embeddings, const at::Tensor& cache,
                                                   const at::Tensor& modifier, Control control) const {
  const ControlMethods methods = control_methods(model_, control);
  check_has_method(model_, methods.has_hidden_states_from_cache, methods.hidden_states_from_cache);
  return call(methods.hidden_states_from_cache, {embeddings, cache, modifier},
              hidden_states_from_cache_shape(model_.config(), embeddings, modifier));
}

// --- PassRunner ----------------------------------------------------------------

PassRunner::PassRunner(std::shared_ptr<const CompiledModel> compiled, SweepInput input)
    : compiled_(std::move(compiled)), input_(std::move(input)) {
  embeddings_ = input_.embeddings.to(compiled_->dtype()).contiguous();
  rows_ = at::tensor(input_.prediction_rows, at::kLong);
}

std::vector<WorkUnit> PassRunner::plan(const at::Tensor& modifiers, int64_t batch_size) const {
  return split_work(modifiers.size(0), batch_size);
}

std::string PassRunner::description() const {
  const std::string methods = name() == "full-logits"    ? "forward, [B, S, V] logits"
                              : name() == "target-only" ? "hidden_states + lm_head on the target rows"
                                                        : "prefix_cache once + hidden_states_from_cache from the "
                                                          "first suppressed position + lm_head on the target rows";
  return fmt::format("{} ({}{}), {}", name(), methods,
                     input_.control == Control::kLogAdditive ? "; the _additive versions, log-additive control" : "",
                     compiled_->precision() == Precision::kBFloat16 ? "bfloat16 copy of the module"
                                                                    : "float32, the module as loaded");
}

at::Tensor PassRunner::control_rows(const at::Tensor& modifiers) const {
  return input_.control == Control::kLogAdditive ? at::log(modifiers) : modifiers;
}

at::Tensor PassRunner::full_logits_pass(const at::Tensor& modifiers) {
  const int64_t b = modifiers.size(0), s = modifiers.size(1);
  const at::Tensor logits = compiled_->forward(embeddings_, control_rows(modifiers), input_.control);
  counters_.calls += 1;
  counters_.positions += b * s;
  counters_.attended += b * s * s;
  counters_.projected_rows += b * s;
  return cross_entropy_from_rows(logits.index_select(1, rows_));
}

at::Tensor PassRunner::cross_entropy_from_rows(const at::Tensor& rows) const {
  const int64_t t = static_cast<int64_t>(input_.target_ids.size());
  TORCH_CHECK(rows.dim() == 3 && rows.size(1) == t, "cross_entropy_from_rows: expected [B, ", t, ", V], got ",
              rows.sizes());
  const at::Tensor wide = rows.to(at::kDouble);
  if (!at::isfinite(wide).all().item<bool>()) {
    const Model& model = compiled_->model();
    throw std::runtime_error(fmt::format("{}: model {} produced NaN or Inf logits", model.path(),
                                         model.config().name));
  }
  const at::Tensor log_probs = at::log_softmax(wide, -1);
  const at::Tensor ids = at::tensor(input_.target_ids, at::kLong).view({1, t, 1}).expand({rows.size(0), t, 1});
  return -log_probs.gather(2, ids).squeeze(2);
}

at::Tensor PassRunner::cross_entropy_from_hidden(const at::Tensor& hidden_rows) {
  const int64_t b = hidden_rows.size(0), t = hidden_rows.size(1);
  const at::Tensor logits = compiled_->lm_head(hidden_rows.reshape({b * t, hidden_rows.size(2)}));
  counters_.projected_rows += b * t;
  return cross_entropy_from_rows(logits.view({b, t, logits.size(1)}));
}

ControlMethods control_methods(const Model& model, Control control) {
  const ModelCapabilities& caps = model.capabilities();
  if (control == Control::kLogAdditive) {
    return {"forward_additive", "hidden_states_additive", "hidden_states_from_cache_additive",
            caps.forward_additive, caps.hidden_states_additive, caps.hidden_states_from_cache_additive};
  }
  return {"forward", "hidden_states", "hidden_states_from_cache", true, caps.hidden_states,
          caps.hidden_states_from_cache};
}

void check_control_supported(const Model& model, Control control) {
  if (control_methods(model, control).has_forward) return;
  throw std::invalid_argument(fmt::format("{}: model {} has no method forward_additive(embeddings, attention_bias) "
                                          "(docs/optional_methods.md): the log-additive control needs it",
                                          model.path(), model.config().name));
}

PassStrategy resolve_strategy(const Model& model, PassStrategy strategy, Control control) {
  if (strategy != PassStrategy::kAuto) return strategy;
  const ModelCapabilities& caps = model.capabilities();
  const ControlMethods methods = control_methods(model, control);
  if (caps.prefix_cache && methods.has_hidden_states_from_cache && caps.lm_head) return PassStrategy::kPrefixReuse;
  if (methods.has_hidden_states && caps.lm_head) return PassStrategy::kTargetOnly;
  return PassStrategy::kFullLogits;
}

std::unique_ptr<PassRunner> make_pass_runner(const Model& model, SweepInput input, PassStrategy strategy,
                                             std::shared_ptr<const CompiledModel> compiled) {
  TORCH_CHECK(input.embeddings.dim() == 3 && input.embeddings.size(0) == 1,
              "make_pass_runner: expected embeddings [1, S, D], got ", input.embeddings.sizes());
  TORCH_CHECK(!input.target_ids.empty() && input.target_ids.size() == input.prediction_rows.size(),
              "make_pass_runner: need one prediction row per target token");
  TORCH_CHECK(compiled == nullptr || &compiled->model() == &model,
              "make_pass_runner: the compiled model belongs to another model");
  const ModelCapabilities& caps = model.capabilities();
  check_control_supported(model, input.control);
  const ControlMethods methods = control_methods(model, input.control);
  const PassStrategy resolved = resolve_strategy(model, strategy, input.control);
  if (resolved == PassStrategy::kTargetOnly && !(methods.has_hidden_states && caps.lm_head)) {
    throw std::invalid_argument(fmt::format("{}: the target-only strategy needs the optional methods {} and "
                                            "lm_head, which this model lacks",
                                            model.path(), methods.hidden_states));
  }
  if (resolved == PassStrategy::kPrefixReuse &&
      !(caps.prefix_cache && methods.has_hidden_states_from_cache && caps.lm_head)) {
    throw std::invalid_argument(fmt::format("{}: the prefix-reuse strategy needs the optional methods "
                                            "prefix_cache, {} and lm_head, which this model lacks",
                                            model.path(), methods.hidden_states_from_cache));
  }
  if (compiled == nullptr) compiled = CompiledModel::compile(model, Precision::kFloat32);
  switch (resolved) {
    case PassStrategy::kFullLogits: return std::make_unique<FullLogitsRunner>(std::move(compiled), std::move(input));
    case PassStrategy::kTargetOnly: return std::make_unique<TargetOnlyRunner>(std::move(compiled), std::move(input));
    case PassStrategy::kPrefixReuse:
      return std::make_unique<PrefixReuseRunner>(std::move(compiled), std::move(input));
    case PassStrategy::kAuto: break;
  }
  throw std::invalid_argument("make_pass_runner: unknown strategy");
}

}  // namespace atman
