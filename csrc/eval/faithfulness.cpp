#include "eval/faithfulness.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "atman/core/names.h"

namespace atman {

std::vector<double> parse_fractions(const std::string& text) {
  std::vector<double> out;
  std::string part;
  std::istringstream in(text);
  const std::string what = "--faithfulness-fractions must be percentages in [0, 100], ascending, e.g. " +
                           std::string(kDefaultFaithfulnessFractions) + "; got \"" + text + "\"";
  while (std::getline(in, part, ',')) {
    const std::optional<double> value = parse_finite_number(part);
    if (!value || *value < 0.0 || *value > 100.0 || (!out.empty() && *value <= out.back())) {
      throw std::invalid_argument(what);
    }
    out.push_back(*value);
  }
  if (out.empty() || text.back() == ',') throw std::invalid_argument(what);
  return out;
}

int64_t units_to_remove(double percent, int64_t n) {
  return static_cast<int64_t>(std::floor(percent * static_cast<double>(n) / 100.0 + 0.5));
}

std::vector<size_t> morf_order(const std::vector<double>& relevance) {
  std::vector<size_t> order(relevance.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return relevance[a] > relevance[b]; });
  return order;
}

std::vector<size_t> lerf_order(const std::vector<double>& relevance) {
  std::vector<size_t> order(relevance.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return relevance[a] < relevance[b]; });
  return order;
}

double aopc(double clean, const std::vector<double>& curve) {
  if (curve.empty()) throw std::invalid_argument("aopc: empty curve");
  double sum = 0.0;
  for (double v : curve) sum += clean - v;
  return sum / static_cast<double>(curve.size());
}

void compute_areas(OperatorCurves& curves) {
  curves.aopc_morf = aopc(curves.clean, curves.morf);
  curves.aopc_lerf = aopc(curves.clean, curves.lerf);
  curves.abpc = curves.aopc_morf - curves.aopc_lerf;
}

namespace {

// The removed positions at each fraction: the first k of `order`.
std::vector<std::vector<int64_t>> removal_steps(const std::vector<size_t>& order,
                                                const std::vector<int64_t>& positions,
                                                const std::vector<double>& fractions) {
  std::vector<std::vector<int64_t>> steps;
  const int64_t n = static_cast<int64_t>(positions.size());
  for (double p : fractions) {
    std::vector<int64_t> removed;
    for (int64_t i = 0; i < units_to_remove(p, n); ++i) removed.push_back(positions[order[i]]);
    steps.push_back(std::move(removed));
  }
  return steps;
}

}  // namespace

OperatorCurves faithfulness_curves(const Remover& remover, RemovalOperator op, const std::vector<int64_t>& positions,
                                   const std::vector<double>& relevance, const std::vector<double>& fractions) {
  if (positions.empty() || positions.size() != relevance.size()) {
    throw std::invalid_argument(fmt::format("faithfulness_curves: {} positions and {} relevance values",
                                            positions.size(), relevance.size()));
  }
  const size_t f = fractions.size();
  std::vector<std::vector<int64_t>> sets = {{}};  // the clean pass first, then MoRF's steps, then LeRF's
  for (auto& s : removal_steps(morf_order(relevance), positions, fractions)) sets.push_back(std::move(s));
  for (auto& s : removal_steps(lerf_order(relevance), positions, fractions)) sets.push_back(std::move(s));
  const at::Tensor lp = remover.log_probs(op, sets).sum(1).contiguous();  // [1 + 2F]
  const auto v = lp.accessor<double, 1>();
  OperatorCurves curves;
  curves.clean = v[0];
  for (size_t i = 0; i < f; ++i) {
    curves.morf.push_back(v[1 + i]);
    curves.lerf.push_back(v[1 + f + i]);
  }
  compute_areas(curves);
  return curves;
}

ItemFaithfulness item_faithfulness(const Remover& remover, const std::vector<int64_t>& positions,
                                   const std::vector<double>& relevance, const std::vector<double>& fractions) {
  ItemFaithfulness out;
  out.fractions = fractions;
  out.attention = faithfulness_curves(remover, RemovalOperator::kAttention, positions, relevance, fractions);
  out.input = faithfulness_curves(remover, RemovalOperator::kInput, positions, relevance, fractions);
  return out;
}

}  // namespace atman
