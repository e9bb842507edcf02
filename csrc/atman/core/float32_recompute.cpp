#include "atman/core/float32_recompute.h"
#include "atman/core/sweep.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

namespace atman {

std::vector<int64_t> rows_to_recompute(const at::Tensor& relevance, int64_t top, double margin) {
  TORCH_CHECK(relevance.dim() == 2, "rows_to_recompute: expected R [N, T], got ", relevance.sizes());
  const int64_t n = relevance.size(0);
  if (top <= 0 || n == 0) return {};
  const at::Tensor total = relevance.to(at::kDouble).sum(1).contiguous();
  const double* r = total.data_ptr<double>();
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  // Non-finite values last: they are recomputed only when they are among the top.
  const auto key = [&](int64_t i) { return std::isfinite(r[i]) ? r[i] : -INFINITY; };
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key(a) > key(b); });
  double largest = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isfinite(r[i])) largest = std::max(largest, std::abs(r[i]));
  }
  const int64_t k = std::min(top, n);
  const double cut = key(order[k - 1]) - margin * largest;
  std::vector<int64_t> rows(order.begin(), order.begin() + k);
  for (int64_t j = k; j < n && key(order[j]) >= cut; ++j) rows.push_back(order[j]);
  std::sort(rows.begin(), rows.end());
  return rows;
}

Float32Values recompute_in_float32(PassRunner& runner, const at::Tensor& modifiers, const std::vector<int64_t>& rows,
                                   int64_t batch_size, const ProgressCallback& progress) {
  std::vector<WorkUnit> units;
  for (size_t begin = 0; begin < rows.size(); begin += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(rows.size(), begin + static_cast<size_t>(batch_size));
    units.emplace_back(std::vector<int64_t>(rows.begin() + begin, rows.begin() + end));
  }
  const SweepOutput out = run_sweep_units(runner, modifiers, units, progress);
  Float32Values values;
  values.clean_ce = out.clean_ce.to(at::kDouble);
  values.relevance = at::empty({static_cast<int64_t>(rows.size()), values.clean_ce.size(0)}, at::kDouble);
  size_t k = 0;
  for (const WorkResult& result : out.results) {
    const at::Tensor ce = result.cross_entropy.to(at::kDouble);
    for (int64_t j = 0; j < ce.size(0); ++j) values.relevance[static_cast<int64_t>(k++)] = ce[j] - values.clean_ce;
  }
  TORCH_CHECK(k == rows.size(), "recompute_in_float32: ", k, " rows computed of ", rows.size());
  values.passes = static_cast<int64_t>(rows.size()) + 1;
  return values;
}

}  // namespace atman
