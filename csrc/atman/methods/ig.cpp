#include "atman/methods/ig.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>

#include "atman/core/names.h"
#include "atman/methods/baseline_passes.h"

namespace atman {
namespace {

struct RuleInfo {
  IgRule rule;
  const char* name;
};

const std::vector<RuleInfo>& rules() {
  static const std::vector<RuleInfo> table = {
      {IgRule::kRiemannMiddle, "riemann-middle"},   {IgRule::kRiemannLeft, "riemann-left"},
      {IgRule::kRiemannRight, "riemann-right"},     {IgRule::kRiemannTrapezoid, "riemann-trapezoid"},
      {IgRule::kGaussLegendre, "gauss-legendre"},
  };
  return table;
}

// P_n(x) and P_n'(x) by the recurrence k P_k = (2k - 1) x P_{k-1} - (k - 1) P_{k-2}.
std::pair<double, double> legendre(int64_t n, double x) {
  double p_prev = 1.0, p = x;
  for (int64_t k = 2; k <= n; ++k) {
    const double next = ((2.0 * k - 1.0) * x * p - (k - 1.0) * p_prev) / static_cast<double>(k);
    p_prev = p;
    p = next;
  }
  const double dp = static_cast<double>(n) * (x * p - p_prev) / (x * x - 1.0);
  return {p, dp};
}

}  // namespace

std::string ig_rule_name(IgRule rule) {
  for (const RuleInfo& r : rules()) {
    if (r.rule == rule) return r.name;
  }
  return "riemann-middle";
}

IgRule parse_ig_rule(const std::string& name) {
  std::string dashed = name;
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  for (const RuleInfo& r : rules()) {
    if (dashed == r.name) return r.rule;
  }
  throw std::invalid_argument("IG method must be " + choice_text(ig_rule_names()) + ", got \"" + name + "\"");
}

std::vector<std::string> ig_rule_names() {
  std::vector<std::string> out;
  for (const RuleInfo& r : rules()) out.emplace_back(r.name);
  return out;
}

IgQuadrature gauss_legendre(int64_t n) {
  if (n < 1) throw std::invalid_argument(fmt::format("gauss_legendre: n must be >= 1, got {}", n));
  IgQuadrature q;
  q.alphas.assign(n, 0.0);
  q.weights.assign(n, 0.0);
  if (n == 1) {
    q.weights[0] = 2.0;
    return q;
  }
  const double pi = std::acos(-1.0);
  for (int64_t i = 0; i < (n + 1) / 2; ++i) {
    // Tricomi's estimate of the i-th largest root, then Newton.
    double x = std::cos(pi * (static_cast<double>(i) + 0.75) / (static_cast<double>(n) + 0.5));
    for (int iter = 0; iter < 100; ++iter) {
      const auto [p, dp] = legendre(n, x);
      const double dx = p / dp;
      x -= dx;
      if (std::abs(dx) < 1e-16) break;
    }
    const double dp = legendre(n, x).second;
    const double w = 2.0 / ((1.0 - x * x) * dp * dp);
    q.alphas[i] = -x;  // ascending: the largest root's mirror first
    q.alphas[n - 1 - i] = x;
    q.weights[i] = q.weights[n - 1 - i] = w;
  }
  if (n % 2 == 1) q.alphas[n / 2] = 0.0;  // exactly, by symmetry
  return q;
}

IgQuadrature ig_quadrature(IgRule rule, int64_t steps) {
  if (steps < 1) throw std::invalid_argument(fmt::format("IG steps must be >= 1, got {}", steps));
  const double n = static_cast<double>(steps);
  IgQuadrature q;
  switch (rule) {
    case IgRule::kGaussLegendre:
      q = gauss_legendre(steps);
      for (size_t k = 0; k < q.alphas.size(); ++k) {
        q.alphas[k] = 0.5 * (q.alphas[k] + 1.0);
        q.weights[k] *= 0.5;
      }
      return q;
    case IgRule::kRiemannTrapezoid:
      if (steps < 2) {
        throw std::invalid_argument(fmt::format("IG method riemann-trapezoid needs steps >= 2, got {}", steps));
      }
      for (int64_t k = 0; k < steps; ++k) {
        q.alphas.push_back(static_cast<double>(k) / (n - 1.0));
        q.weights.push_back((k == 0 || k == steps - 1 ? 0.5 : 1.0) / (n - 1.0));
      }
      return q;
    case IgRule::kRiemannMiddle:
    case IgRule::kRiemannLeft:
    case IgRule::kRiemannRight: {
      const double shift = rule == IgRule::kRiemannMiddle ? 0.5 : rule == IgRule::kRiemannLeft ? 0.0 : 1.0;
      for (int64_t k = 0; k < steps; ++k) {
        q.alphas.push_back((static_cast<double>(k) + shift) / n);
        q.weights.push_back(1.0 / n);
      }
      return q;
    }
  }
  throw std::invalid_argument("ig_quadrature: unknown rule");
}

at::Tensor integrated_gradients(const Model& model, const PreparedInput& prepared, int64_t steps, int64_t batch,
                                IgRule rule) {
  TORCH_CHECK(batch >= 0, "integrated_gradients: batch must be >= 0, got ", batch);
  const IgQuadrature q = ig_quadrature(rule, steps);
  baseline::freeze_parameters(model);
  c10::AutoGradMode grad_on(true);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  const int64_t b = batch > 0 ? std::min(batch, steps) : std::min<int64_t>(steps, 32);
  const at::Tensor x = baseline::plain_embeddings(prepared);  // [1, S, D]
  const at::Tensor all_alphas = at::tensor(q.alphas, at::kDouble);
  const at::Tensor all_weights = at::tensor(q.weights, at::kDouble);
  std::vector<at::Tensor> grad_sums(t);  // sum_k w_k grad(alpha_k x), float64 [S, D]
  for (int64_t begin = 0; begin < steps; begin += b) {
    const int64_t n = std::min(b, steps - begin);
    const at::Tensor alphas = all_alphas.slice(0, begin, begin + n).to(at::kFloat).view({n, 1, 1});
    const at::Tensor weights = all_weights.slice(0, begin, begin + n).view({n, 1, 1});
    at::Tensor points = (alphas * x).detach().requires_grad_(true);  // [n, S, D]
    const at::Tensor scores = baseline::score_rows(model, seq, points);  // [n, T]
    for (int64_t k = 0; k < t; ++k) {
      const at::Tensor g =
          torch::autograd::grad({scores.select(1, k).sum()}, {points}, {}, /*retain_graph=*/k + 1 < t)[0];
      const at::Tensor summed = (g.to(at::kDouble) * weights).sum(0);  // [S, D]
      grad_sums[k] = grad_sums[k].defined() ? grad_sums[k] + summed : summed;
    }
  }
  const at::Tensor x64 = x[0].to(at::kDouble);
  at::Tensor values = at::zeros({seq.length(), t}, at::kDouble);
  for (int64_t k = 0; k < t; ++k) values.select(1, k).copy_((x64 * grad_sums[k]).sum(-1));
  return values;
}

}  // namespace atman
