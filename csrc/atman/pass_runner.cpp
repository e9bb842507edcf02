#include "atman/pass_runner.h"

#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>

namespace atman {
namespace {

/// The published algorithm: forward() and its full [B, S, V] logits.
class FullLogitsRunner final : public PassRunner {
 public:
  FullLogitsRunner(const Model& model, SweepInput input) : PassRunner(model, std::move(input)) {
    rows_ = at::tensor(input_.prediction_rows, at::kLong);
  }
  at::Tensor target_cross_entropy(const at::Tensor& modifiers) override {
    const at::Tensor logits = model_.forward(input_.embeddings, modifiers);
    return cross_entropy_from_rows(logits.index_select(1, rows_));
  }
  std::string name() const override { return "full-logits"; }

 private:
  at::Tensor rows_;
};

/// hidden_states() then lm_head() on the rows before target tokens only.
class TargetOnlyRunner final : public PassRunner {
 public:
  TargetOnlyRunner(const Model& model, SweepInput input) : PassRunner(model, std::move(input)) {
    rows_ = at::tensor(input_.prediction_rows, at::kLong);
  }
  at::Tensor target_cross_entropy(const at::Tensor& modifiers) override {
    const at::Tensor hidden = model_.hidden_states(input_.embeddings, modifiers).index_select(1, rows_);
    const int64_t b = hidden.size(0), t = hidden.size(1);
    const at::Tensor logits = model_.lm_head(hidden.reshape({b * t, hidden.size(2)}));
    return cross_entropy_from_rows(logits.view({b, t, logits.size(1)}));
  }
  std::string name() const override { return "target-only"; }

 private:
  at::Tensor rows_;
};

}  // namespace

int64_t PassRunner::positions_computed(const at::Tensor& modifiers) const {
  return modifiers.size(0) * modifiers.size(1);
}

at::Tensor PassRunner::cross_entropy_from_rows(const at::Tensor& rows) const {
  const int64_t t = static_cast<int64_t>(input_.target_ids.size());
  TORCH_CHECK(rows.dim() == 3 && rows.size(1) == t, "cross_entropy_from_rows: expected [B, ", t, ", V], got ",
              rows.sizes());
  if (!at::isfinite(rows).all().item<bool>()) {
    throw std::runtime_error(fmt::format("{}: model {} produced NaN or Inf logits", model_.path(),
                                         model_.config().name));
  }
  const at::Tensor log_probs = at::log_softmax(rows.to(at::kDouble), -1);
  const at::Tensor ids = at::tensor(input_.target_ids, at::kLong).view({1, t, 1}).expand({rows.size(0), t, 1});
  return -log_probs.gather(2, ids).squeeze(2);
}

std::unique_ptr<PassRunner> make_pass_runner(const Model& model, SweepInput input, PassStrategy strategy) {
  TORCH_CHECK(input.embeddings.dim() == 3 && input.embeddings.size(0) == 1,
              "make_pass_runner: expected embeddings [1, S, D], got ", input.embeddings.sizes());
  TORCH_CHECK(!input.target_ids.empty() && input.target_ids.size() == input.prediction_rows.size(),
              "make_pass_runner: need one prediction row per target token");
  const bool target_only = model.capabilities().target_only();
  switch (strategy) {
    case PassStrategy::kAuto:
      if (target_only) return std::make_unique<TargetOnlyRunner>(model, std::move(input));
      return std::make_unique<FullLogitsRunner>(model, std::move(input));
    case PassStrategy::kFullLogits:
      return std::make_unique<FullLogitsRunner>(model, std::move(input));
    case PassStrategy::kTargetOnly:
      if (!target_only) {
        throw std::invalid_argument(model.path() + ": the target-only strategy needs the optional methods "
                                                   "hidden_states and lm_head, which this model lacks");
      }
      return std::make_unique<TargetOnlyRunner>(model, std::move(input));
  }
  throw std::invalid_argument("make_pass_runner: unknown strategy");
}

}  // namespace atman
