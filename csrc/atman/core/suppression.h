#pragma once
// Cosine neighbourhoods and attention-modifier rows (docs/method.md).

#include <cstdint>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace atman {

/// C = cos(E_a, E_b) clipped to [-1, 1]; embeddings float [S, D] -> [S, S].
at::Tensor cosine_similarity_matrix(const at::Tensor& embeddings);

/// Conceptual factor of a neighbour with similarity c: (1 - f)(1 - c) + f for
/// c in [0, 1], 1 outside.
double conceptual_factor(double similarity, double suppression_factor);

/// One modifier row per group, float32 [N, S]: the group's members get
/// `suppression_factor`; with `conceptual_threshold` kappa, every other
/// position j with C[i, j] >= kappa for some member i gets the
/// conceptual_factor(C[i, j], f) furthest from 1 over those members (the
/// strongest suppression, or amplification when f > 1); everything else 1. `similarity` may be undefined when
/// conceptual_threshold is nullopt.
///
/// With `weights` (per group, one per member; empty: all 1), a member of
/// weight c suppresses with 1 - c (1 - factor) instead of each factor it
/// would give (itself and its neighbours): --token-overlap partial.
///
///   auto rows = modifier_rows(sim, {{5}, {7, 8}}, 0.1, 0.6);   // [2, S]
at::Tensor modifier_rows(const at::Tensor& similarity, int64_t sequence_length,
                         const std::vector<std::vector<int64_t>>& groups, double suppression_factor,
                         std::optional<double> conceptual_threshold,
                         const std::vector<std::vector<double>>& weights = {});

}  // namespace atman
