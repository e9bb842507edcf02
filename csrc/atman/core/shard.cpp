#include "atman/core/shard.h"

#include <algorithm>
#include <numeric>

#include <c10/util/Exception.h>

namespace atman {

std::vector<int64_t> unit_costs(const at::Tensor& modifiers, const std::vector<WorkUnit>& units, bool prefix_reuse,
                                int64_t call_overhead) {
  TORCH_CHECK(modifiers.dim() == 2, "unit_costs: expected modifiers [N, S], got ", modifiers.sizes());
  const int64_t length = modifiers.size(1);
  const std::vector<int64_t> starts = prefix_reuse ? first_suppressed(modifiers) : std::vector<int64_t>{};
  std::vector<int64_t> costs;
  costs.reserve(units.size());
  for (const WorkUnit& unit : units) {
    int64_t from = 0;
    if (prefix_reuse) {
      from = length;
      for (int64_t r : unit.row_indices()) {
        TORCH_CHECK(r >= 0 && r < static_cast<int64_t>(starts.size()), "unit_costs: row ", r, " outside the ",
                    starts.size(), " modifier rows");
        from = std::min(from, starts[r]);
      }
    }
    costs.push_back(unit.size() * (length - from) + call_overhead);
  }
  return costs;
}

std::vector<int64_t> deal_units(const std::vector<int64_t>& costs, int64_t ranks) {
  TORCH_CHECK(ranks >= 1, "deal_units: ranks must be >= 1, got ", ranks);
  std::vector<int64_t> order(costs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return costs[a] > costs[b]; });
  std::vector<int64_t> load(ranks, 0), owner(costs.size(), 0);
  for (int64_t u : order) {
    const int64_t r = std::min_element(load.begin(), load.end()) - load.begin();  // first of the least loaded
    owner[u] = r;
    load[r] += costs[u];
  }
  return owner;
}

}  // namespace atman
