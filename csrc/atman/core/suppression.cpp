#include "atman/core/suppression.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

namespace atman {

at::Tensor cosine_similarity_matrix(const at::Tensor& embeddings) {
  TORCH_CHECK(embeddings.dim() == 2, "cosine_similarity_matrix: expected embeddings [S, D], got ",
              embeddings.sizes());
  const at::Tensor e = embeddings.to(at::kDouble);
  const at::Tensor norms = e.norm(2, {1}, /*keepdim=*/true).clamp_min(1e-12);
  const at::Tensor unit = e / norms;
  return at::matmul(unit, unit.t()).clamp(-1.0, 1.0);
}

double conceptual_factor(double similarity, double suppression_factor) {
  if (similarity < 0.0 || similarity > 1.0) return 1.0;
  return (1.0 - suppression_factor) * (1.0 - similarity) + suppression_factor;
}

at::Tensor modifier_rows(const at::Tensor& similarity, int64_t sequence_length,
                         const std::vector<std::vector<int64_t>>& groups, double suppression_factor,
                         std::optional<double> conceptual_threshold,
                         const std::vector<std::vector<double>>& weights) {
  const int64_t s = sequence_length;
  TORCH_CHECK(s > 0, "modifier_rows: sequence length must be positive, got ", s);
  TORCH_CHECK(std::isfinite(suppression_factor), "modifier_rows: suppression factor must be finite, got ",
              suppression_factor);
  at::Tensor sim;
  if (conceptual_threshold) {
    TORCH_CHECK(similarity.defined() && similarity.dim() == 2 && similarity.size(0) == s && similarity.size(1) == s,
                "modifier_rows: expected similarity [", s, ", ", s, "], got ",
                similarity.defined() ? similarity.sizes() : at::IntArrayRef{});
    sim = similarity.to(at::kDouble).contiguous();
  }
  const int64_t n = static_cast<int64_t>(groups.size());
  TORCH_CHECK(weights.empty() || static_cast<int64_t>(weights.size()) == n, "modifier_rows: ", weights.size(),
              " weight lists for ", n, " groups");
  at::Tensor rows = at::ones({n, s}, at::kDouble);
  auto m = rows.accessor<double, 2>();
  for (int64_t g = 0; g < n; ++g) {
    TORCH_CHECK(!groups[g].empty(), "modifier_rows: group ", g, " is empty");
    for (int64_t i : groups[g]) {
      TORCH_CHECK(i >= 0 && i < s, "modifier_rows: position ", i, " of group ", g, " is outside [0, ", s, ")");
    }
    const size_t members = groups[g].size();
    TORCH_CHECK(weights.empty() || weights[g].size() == members, "modifier_rows: ",
                weights.empty() ? 0 : weights[g].size(), " weights for the ", members, " members of group ", g);
    // A member's weight c scales every suppression it causes: 1 - c (1 - factor).
    auto weighted = [&](size_t k, double factor) {
      return weights.empty() ? factor : 1.0 - weights[g][k] * (1.0 - factor);
    };
    if (conceptual_threshold) {
      auto c = sim.accessor<double, 2>();
      for (size_t k = 0; k < members; ++k) {
        const int64_t i = groups[g][k];
        for (int64_t j = 0; j < s; ++j) {
          if (j != i && c[i][j] >= *conceptual_threshold) {
            // several members: keep the factor furthest from 1 (the strongest effect)
            const double factor = weighted(k, conceptual_factor(c[i][j], suppression_factor));
            if (std::abs(factor - 1.0) > std::abs(m[g][j] - 1.0)) m[g][j] = factor;
          }
        }
      }
    }
    for (size_t k = 0; k < members; ++k) m[g][groups[g][k]] = weighted(k, suppression_factor);
  }
  return rows.to(at::kFloat);
}

}  // namespace atman
