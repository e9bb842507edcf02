#pragma once
// Integrated Gradients (Sundararajan et al. 2017), zero baseline for all of E
// at once: the path integral of the gradient from 0 to E, approximated by a
// quadrature rule of `steps` points alpha_k with weights w_k on [0, 1], run
// `batch` points per pass:
//   R[i, t] = sum_d E[i, d] * sum_k w_k * d log p(t) / d E[i, d] (alpha_k E)
// Completeness: sum_i R[i, t] ~= log p(t)(E) - log p(t)(0) (target_log_probs,
// registry.h); how close depends on the rule and the steps (docs/evaluation.md).
//
// The rules (the names Captum's users know, with '-' for '_'):
//   riemann-middle   alpha_k = (k + 1/2) / n,  w_k = 1/n   (the default)
//   riemann-left     alpha_k = k / n,          w_k = 1/n
//   riemann-right    alpha_k = (k + 1) / n,    w_k = 1/n
//   riemann-trapezoid alpha_k = k / (n - 1),   w_k = 1/(n - 1), halved at both ends (n >= 2)
//   gauss-legendre   the n-point Gauss-Legendre nodes and weights of [-1, 1]
//                    mapped to [0, 1]: alpha = (x + 1) / 2, w = w_x / 2
//
// Usage:
//   IgQuadrature q = ig_quadrature(IgRule::kGaussLegendre, 32);
//   at::Tensor values = integrated_gradients(model, prepared, 32, 0, IgRule::kGaussLegendre);

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/model/model.h"

namespace atman {

enum class IgRule { kRiemannMiddle, kRiemannLeft, kRiemannRight, kRiemannTrapezoid, kGaussLegendre };

/// "riemann-middle", "riemann-left", "riemann-right", "riemann-trapezoid", "gauss-legendre".
std::string ig_rule_name(IgRule rule);
/// The inverse (also with '_' for '-'); throws std::invalid_argument naming the choices.
IgRule parse_ig_rule(const std::string& name);
/// Every rule's name, in the order of the enum.
std::vector<std::string> ig_rule_names();

/// Points and weights of a rule on [0, 1], alphas ascending.
struct IgQuadrature {
  std::vector<double> alphas;
  std::vector<double> weights;
};
/// Throws std::invalid_argument when steps < 1 (< 2 for the trapezoid).
IgQuadrature ig_quadrature(IgRule rule, int64_t steps);

/// The n-point Gauss-Legendre rule on [-1, 1]: nodes ascending and weights,
/// by Newton's method on the Legendre polynomial P_n (three-term recurrence),
/// to float64 precision. Throws std::invalid_argument when n < 1.
IgQuadrature gauss_legendre(int64_t n);

/// Per-position, per-target values, float64 [S, T]. `batch` is the points
/// per pass (0: min(steps, 32)).
at::Tensor integrated_gradients(const Model& model, const PreparedInput& prepared, int64_t steps,
                                int64_t batch = 0, IgRule rule = IgRule::kRiemannMiddle);

}  // namespace atman
