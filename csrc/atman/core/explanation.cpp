#include "atman/core/explanation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include <ATen/ATen.h>

namespace atman {
namespace {

std::string joined_pieces(const Sequence& sequence, const std::vector<int64_t>& members) {
  std::string out;
  for (int64_t p : members) out += sequence.piece_at(p);
  return out;
}

}  // namespace

Explanation assemble_explanation(const ModelConfig& config, const std::string& method, const Sequence& sequence,
                                 const std::vector<std::vector<int64_t>>& groups, const at::Tensor& group_values,
                                 const std::vector<double>& clean_ce, const ExplainOptions& options) {
  const int64_t t = static_cast<int64_t>(sequence.target_ids.size());
  const int64_t n = static_cast<int64_t>(groups.size());
  TORCH_CHECK(group_values.dim() == 2 && group_values.size(0) == n && group_values.size(1) == t,
              "assemble_explanation: expected values [", n, ", ", t, "], got ", group_values.sizes());
  TORCH_CHECK(static_cast<int64_t>(clean_ce.size()) == t, "assemble_explanation: expected ", t,
              " clean cross-entropies, got ", clean_ce.size());
  const at::Tensor values = group_values.to(at::kDouble).contiguous();
  const auto r = values.accessor<double, 2>();
  Explanation e;
  e.model = config.name;
  e.method = method;
  e.prompt = sequence.prompt;
  e.target = sequence.target;
  e.params = options;
  if (sequence.image_positions > 0) {
    e.image_grid = std::make_pair(sequence.grid_rows, sequence.grid_cols);
    e.image_config = config.image;
  }
  for (int64_t i = 0; i < t; ++i) e.targets.push_back({sequence.target_ids[i], sequence.target_pieces[i], clean_ce[i]});
  for (int64_t g = 0; g < n; ++g) {
    const auto& members = groups[g];
    ExplainedUnit unit;
    unit.index = members.front();
    unit.kind = sequence.kind_of(unit.index);
    unit.members = members;
    unit.token_id = sequence.token_id_at(unit.index);
    if (unit.kind == PositionKind::kImage) {
      std::tie(unit.patch_row, unit.patch_col) = sequence.patch_at(unit.index);
    } else {
      unit.piece = joined_pieces(sequence, members);
    }
    for (int64_t i = 0; i < t; ++i) unit.per_target.push_back(r[g][i]);
    unit.relevance = 0.0;
    for (double v : unit.per_target) unit.relevance += v;
    e.units.push_back(std::move(unit));
  }
  return e;
}

std::vector<size_t> units_by_relevance(const Explanation& explanation, int top_k) {
  std::vector<size_t> order(explanation.units.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto key = [&](size_t i) {
    const double r = explanation.units[i].relevance;
    return std::isfinite(r) ? r : -INFINITY;
  };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) > key(b); });
  if (top_k > 0 && order.size() > static_cast<size_t>(top_k)) order.resize(static_cast<size_t>(top_k));
  return order;
}

}  // namespace atman
