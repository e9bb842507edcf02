#pragma once
// Pass runners: one batch of attention-modifier rows in, the target tokens'
// cross-entropies out. The sweep (explainer.h) only talks to this interface:
//
//   full-logits    forward() -> [B, S, V] logits, every position of every pass
//                  (the published algorithm)
//   target-only    hidden_states() -> lm_head() on the T rows before target
//                  tokens only: never [B, S, V]
//   prefix-reuse   prefix_cache() once, then per pass only the positions from
//                  its first suppressed one on (hidden_states_from_cache), and
//                  lm_head() on the target rows. Exact (docs/method.md, the
//                  causal-prefix fact): a query row q before the first suppressed key sees
//                  modifier 1 on every key it may attend, so its shift by the
//                  row minimum cancels in the softmax whatever keys the minimum
//                  covers; a suffix row's minimum still covers every key, the
//                  cached prefix keys and all suffix keys.
//
// Under the log-additive control (Control::kLogAdditive) every strategy runs
// the same way on the *_additive methods, with the bias rows log(modifier
// rows) (log 1 = 0, log 0 = -inf) built by the runner from the modifier rows
// it is given. Prefix reuse stays exact: a row q before the first suppressed
// key adds bias 0 to every key it may attend, so it is the clean row; a
// suffix row adds its keys' biases, the cached keys' being 0 (no row minimum
// is involved).
//
// Every runner calls the model through a CompiledModel: the TorchScript
// module run on its plain plan (no profiling run, nothing to freeze or warm
// up: docs/speed.md#fixed-costs), in float32 or, on request, a bfloat16 copy.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/names.h"  // strategy_name
#include "atman/core/options.h"
#include "atman/model/model.h"

namespace torch {
namespace jit {
struct Module;
}
}  // namespace torch

namespace atman {

/// What every pass of one sweep shares.
struct SweepInput {
  at::Tensor embeddings;                 // float32 [1, S, D], layer-0 input embeddings
  std::vector<int64_t> prediction_rows;  // [T]: logit row predicting target t
  std::vector<int64_t> target_ids;       // [T]
  Control control = Control::kMultiplicative;  // how the modifier rows act (options.h)
};

/// A batch of modifier rows computed in one call: the sweep's independent
/// work unit (shardable across threads or processes). Either the range
/// [begin, end) or, when `rows` is not empty, exactly those rows in that order.
struct WorkUnit {
  WorkUnit() = default;
  WorkUnit(int64_t begin_row, int64_t end_row) : begin(begin_row), end(end_row) {}
  explicit WorkUnit(std::vector<int64_t> row_list) : rows(std::move(row_list)) {}
  int64_t begin = 0;
  int64_t end = 0;
  std::vector<int64_t> rows;
  int64_t size() const { return rows.empty() ? end - begin : static_cast<int64_t>(rows.size()); }
  /// The unit's modifier rows in order.
  std::vector<int64_t> row_indices() const;
};

/// Splits `rows` modifier rows into ranges of at most `batch_size`.
std::vector<WorkUnit> split_work(int64_t rows, int64_t batch_size);

/// What a runner has pushed through the model so far (the sweep's stats and
/// `atman bench`'s FLOP count).
struct PassCounters {
  int64_t calls = 0;           // model calls (batches, the prefix cache)
  int64_t positions = 0;       // query positions, summed over calls and batch rows
  int64_t attended = 0;        // (query, key) pairs of attention scores, summed likewise
  int64_t projected_rows = 0;  // rows through the LM head
};

/// The pass methods of a model as the runners call them. Inputs may be
/// float32 or the model's dtype; outputs come in the model's dtype (float32,
/// or bfloat16 with Precision::kBFloat16). Output shapes are checked.
///
/// Usage:
///   auto fast = CompiledModel::compile(*model, Precision::kFloat32);  // the module as loaded
///   at::Tensor hidden = fast->hidden_states(embeddings, modifiers);
class CompiledModel {
 public:
  /// The module the passes run on: for kFloat32 the module as loaded (no
  /// copy), for kBFloat16 a deep copy cast to bfloat16. Every method runs on
  /// TorchScript's plain plan (the graph executor's profiling run and
  /// optimisation off for the call), so there is nothing to freeze or warm
  /// up: measured on tiny-magma, freezing (0.12-0.15 CPU-s) and the profiling
  /// warm-up (0.4-0.5 CPU-s) bought no faster passes (docs/speed.md#fixed-costs).
  static std::shared_ptr<const CompiledModel> compile(const Model& model, Precision precision);
  /// The module exactly as loaded, float32 (what the published algorithm runs).
  static std::shared_ptr<const CompiledModel> as_loaded(const Model& model);
  ~CompiledModel();

  const Model& model() const { return model_; }
  Precision precision() const { return precision_; }
  at::ScalarType dtype() const;

  /// The pass methods take the modifier rows (kMultiplicative) or the bias
  /// rows (kLogAdditive: the *_additive methods), [B, S] (or [B, P+S2]).
  at::Tensor forward(const at::Tensor& embeddings, const at::Tensor& modifier,
                     Control control = Control::kMultiplicative) const;
  at::Tensor hidden_states(const at::Tensor& embeddings, const at::Tensor& modifier,
                           Control control = Control::kMultiplicative) const;
  at::Tensor lm_head(const at::Tensor& hidden) const;
  at::Tensor prefix_cache(const at::Tensor& embeddings) const;
  at::Tensor hidden_states_from_cache(const at::Tensor& embeddings, const at::Tensor& cache,
                                      const at::Tensor& modifier, Control control = Control::kMultiplicative) const;

 private:
  explicit CompiledModel(const Model& model);
  at::Tensor call(const char* name, std::vector<at::Tensor> inputs, const std::vector<int64_t>& expected) const;
  const Model& model_;
  Precision precision_ = Precision::kFloat32;
  std::unique_ptr<torch::jit::Module> owned_;  // null for as_loaded
  torch::jit::Module* module_ = nullptr;
};

/// Usage:
///   auto runner = make_pass_runner(model, input, PassStrategy::kAuto);
///   for (const WorkUnit& unit : runner->plan(modifiers, 8))
///     at::Tensor ce = runner->target_cross_entropy(modifiers.index_select(0, ...));  // [B, S] -> [B, T]
class PassRunner {
 public:
  virtual ~PassRunner() = default;
  /// float32 modifiers [B, S] -> float64 CE_t [B, T]. Throws std::runtime_error
  /// when the model produces NaN/Inf or outputs of the wrong shape.
  virtual at::Tensor target_cross_entropy(const at::Tensor& modifiers) = 0;
  /// Groups the rows of `modifiers` [N, S] into work units for this runner;
  /// `batch_size` bounds a unit's memory as that many rows of full length.
  /// Default: ranges of `batch_size` rows.
  virtual std::vector<WorkUnit> plan(const at::Tensor& modifiers, int64_t batch_size) const;
  /// Short name for --verbose and stats ("full-logits", "target-only", "prefix-reuse").
  virtual std::string name() const = 0;
  /// One line for --verbose: strategy, methods used, precision.
  std::string description() const;
  const PassCounters& counters() const { return counters_; }
  /// Query positions pushed through the model so far.
  int64_t positions_computed() const { return counters_.positions; }
  const CompiledModel& compiled() const { return *compiled_; }

 protected:
  PassRunner(std::shared_ptr<const CompiledModel> compiled, SweepInput input);
  /// logits rows [B, T, V] (any float dtype) -> CE [B, T] (float64), checking finiteness.
  at::Tensor cross_entropy_from_rows(const at::Tensor& rows) const;
  /// final hidden rows [B, T, D] -> CE [B, T] through lm_head.
  at::Tensor cross_entropy_from_hidden(const at::Tensor& hidden_rows);
  /// A whole pass through forward() with its [B, S, V] logits (the published
  /// algorithm, and prefix reuse's fallback when nothing is shared).
  at::Tensor full_logits_pass(const at::Tensor& modifiers);
  /// What the model methods take for `modifiers` under the sweep's control:
  /// the modifier rows themselves, or log(modifiers) (0 -> -inf).
  at::Tensor control_rows(const at::Tensor& modifiers) const;
  std::shared_ptr<const CompiledModel> compiled_;
  SweepInput input_;
  at::Tensor embeddings_;  // input_.embeddings in the compiled model's dtype
  at::Tensor rows_;        // int64 prediction rows
  PassCounters counters_;
};

/// The position of the first modifier factor != 1 in each row of [N, S]
/// (S for a row of ones): where a pass with prefix reuse has to start.
std::vector<int64_t> first_suppressed(const at::Tensor& modifiers);

/// Groups rows with the given start positions into passes for prefix reuse:
/// rows sorted by start, cut into runs so that the positions computed (each
/// run from its smallest start) plus `call_overhead` positions per call are
/// least, with every run's memory at most that of `batch_size` full rows of
/// a sequence of `length` positions (`width` D, `heads` H). Exact: a run's
/// rows compute from its smallest start, which only recomputes positions.
std::vector<WorkUnit> plan_prefix_passes(const std::vector<int64_t>& starts, int64_t length, int64_t batch_size,
                                         int64_t width, int64_t heads, double call_overhead);

/// The pass methods of a model under one control: forward, hidden_states
/// and hidden_states_from_cache, or their *_additive versions, and whether
/// the model has each.
struct ControlMethods {
  const char* forward;
  const char* hidden_states;
  const char* hidden_states_from_cache;
  bool has_forward = false;
  bool has_hidden_states = false;
  bool has_hidden_states_from_cache = false;
};
ControlMethods control_methods(const Model& model, Control control);

/// Throws std::invalid_argument with one line naming the missing method when
/// the model cannot run passes under `control` (log-additive needs forward_additive).
void check_control_supported(const Model& model, Control control);

/// The strategy kAuto resolves to for this model and control: prefix-reuse
/// when it has prefix_cache, hidden_states_from_cache (or its _additive
/// version) and lm_head; else target-only when it has hidden_states (or
/// hidden_states_additive) and lm_head; else full-logits.
PassStrategy resolve_strategy(const Model& model, PassStrategy strategy, Control control = Control::kMultiplicative);

/// Picks the runner for `strategy`. `compiled` null: CompiledModel::compile(model,
/// kFloat32). Throws std::invalid_argument when a strategy is asked for that the
/// model cannot run.
std::unique_ptr<PassRunner> make_pass_runner(const Model& model, SweepInput input, PassStrategy strategy,
                                             std::shared_ptr<const CompiledModel> compiled = nullptr);

}  // namespace atman
