#include "conceptual_modifiers.h"

#include <cmath>
#include <optional>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <fmt/format.h>
#include <torch/library.h>

#include "atman/core/suppression.h"
#include "errors.h"

namespace atman::ops {
namespace {

void check_arguments(const at::Tensor& embeddings, const at::Tensor& positions, double suppression_factor,
                     c10::optional<double> conceptual_threshold) {
  const char* fn = "conceptual_modifiers";
  if (!embeddings.defined() || embeddings.dim() != 2 ||
      (embeddings.scalar_type() != at::kFloat && embeddings.scalar_type() != at::kDouble) ||
      !embeddings.device().is_cpu()) {
    throw_one_line(fmt::format("{}: expected embeddings float32 or float64 [S, D] on the CPU, got {}", fn,
                               describe(embeddings)));
  }
  if (embeddings.size(0) == 0 || embeddings.size(1) == 0) {
    throw_one_line(fmt::format("{}: embeddings must have at least one position and one feature, got {}", fn,
                               describe(embeddings)));
  }
  if (!at::isfinite(embeddings).all().item<bool>()) {
    throw_one_line(fmt::format("{}: embeddings contain NaN or Inf", fn));
  }
  if (!positions.defined() || positions.dim() != 1 || positions.scalar_type() != at::kLong ||
      !positions.device().is_cpu()) {
    throw_one_line(fmt::format("{}: expected positions int64 [N] on the CPU, got {}", fn, describe(positions)));
  }
  const int64_t s = embeddings.size(0);
  const at::Tensor p = positions.contiguous();
  const int64_t* data = p.data_ptr<int64_t>();
  for (int64_t n = 0; n < p.size(0); ++n) {
    if (data[n] < 0 || data[n] >= s) {
      throw_one_line(fmt::format("{}: positions[{}] = {} is outside [0, {}) ({} embeddings)", fn, n, data[n], s, s));
    }
  }
  if (!std::isfinite(suppression_factor) || suppression_factor < 0.0) {
    throw_one_line(fmt::format("{}: suppression_factor must be a finite number >= 0, got {}", fn, suppression_factor));
  }
  if (conceptual_threshold &&
      (!std::isfinite(*conceptual_threshold) || *conceptual_threshold < -1.0 || *conceptual_threshold > 1.0)) {
    throw_one_line(fmt::format("{}: conceptual_threshold must be in [-1, 1] or None, got {}", fn,
                               *conceptual_threshold));
  }
}

}  // namespace

at::Tensor conceptual_modifiers_cpu(const at::Tensor& embeddings, const at::Tensor& positions,
                                    double suppression_factor, c10::optional<double> conceptual_threshold) {
  check_arguments(embeddings, positions, suppression_factor, conceptual_threshold);
  return with_one_line_errors([&] {
    at::NoGradGuard no_grad;
    const at::Tensor p = positions.contiguous();
    std::vector<std::vector<int64_t>> groups;
    groups.reserve(p.size(0));
    for (int64_t n = 0; n < p.size(0); ++n) groups.push_back({p.data_ptr<int64_t>()[n]});
    at::Tensor similarity;
    if (conceptual_threshold) similarity = cosine_similarity_matrix(embeddings.detach());
    const std::optional<double> kappa =
        conceptual_threshold ? std::optional<double>(*conceptual_threshold) : std::nullopt;
    return modifier_rows(similarity, embeddings.size(0), groups, suppression_factor, kappa);
  });
}

at::Tensor conceptual_modifiers(const at::Tensor& embeddings, const at::Tensor& positions,
                                double suppression_factor, c10::optional<double> conceptual_threshold) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("atman::conceptual_modifiers", "")
                       .typed<at::Tensor(const at::Tensor&, const at::Tensor&, double, c10::optional<double>)>();
  return op.call(embeddings, positions, suppression_factor, conceptual_threshold);
}

TORCH_LIBRARY_IMPL(atman, CPU, m) {
  m.impl("conceptual_modifiers", TORCH_FN(conceptual_modifiers_cpu));
}

}  // namespace atman::ops
