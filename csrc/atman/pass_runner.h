#pragma once
// Pass runners: one batch of attention-modifier rows in, the target tokens'
// cross-entropies out. The sweep (explainer.h) only talks to this interface,
// so faster exact strategies (prefix reuse, target-only log-probs) slot in
// without touching it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/model.h"
#include "atman/options.h"

namespace atman {

/// What every pass of one sweep shares.
struct SweepInput {
  at::Tensor embeddings;                 // float32 [1, S, D], layer-0 input embeddings
  std::vector<int64_t> prediction_rows;  // [T]: logit row predicting target t
  std::vector<int64_t> target_ids;       // [T]
};

/// Usage:
///   auto runner = make_pass_runner(model, input, PassStrategy::kAuto);
///   at::Tensor ce = runner->target_cross_entropy(modifiers);  // [B, S] -> [B, T]
class PassRunner {
 public:
  virtual ~PassRunner() = default;
  /// float32 modifiers [B, S] -> float64 CE_t [B, T]. Throws std::runtime_error
  /// when the model produces NaN/Inf or outputs of the wrong shape.
  virtual at::Tensor target_cross_entropy(const at::Tensor& modifiers) = 0;
  /// Query positions this runner pushes through the model for these rows.
  virtual int64_t positions_computed(const at::Tensor& modifiers) const;
  /// Short name for --verbose and stats ("full-logits", "target-only").
  virtual std::string name() const = 0;

 protected:
  PassRunner(const Model& model, SweepInput input) : model_(model), input_(std::move(input)) {}
  /// logits or log-prob rows [B, T, V] -> CE [B, T] (float64), checking finiteness.
  at::Tensor cross_entropy_from_rows(const at::Tensor& rows) const;
  const Model& model_;
  SweepInput input_;
};

/// Picks the runner for `strategy` (kAuto: target-only when the model has
/// hidden_states and lm_head, else full logits). Throws when a strategy is
/// asked for that the model cannot run.
std::unique_ptr<PassRunner> make_pass_runner(const Model& model, SweepInput input, PassStrategy strategy);

}  // namespace atman
