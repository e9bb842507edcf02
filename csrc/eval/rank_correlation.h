#pragma once
// Rank correlations of two maps over the same positions, for `atman eval`'s
// agreement of every method with leave-one-out (docs/evaluation.md).
//
//   Spearman's rho   Pearson's correlation of the ranks, tied values given
//                    their average rank
//   Kendall's tau-b  (concordant - discordant) / sqrt((n0 - n1)(n0 - n2)),
//                    n0 = n(n-1)/2, n1 and n2 the tied pairs of each map
//
// Both are NaN when a map is constant or fewer than two values are given.
//
// Usage:
//   double rho = spearman({1, 2, 3}, {1, 3, 2});   // 0.5
//   double tau = kendall_tau_b({1, 2, 3}, {1, 3, 2});  // 1/3

#include <vector>

namespace atman {

/// Throws std::invalid_argument when the sizes differ.
double spearman(const std::vector<double>& a, const std::vector<double>& b);
double kendall_tau_b(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace atman
