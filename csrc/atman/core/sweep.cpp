#include "atman/core/sweep.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "atman/core/sweep_memory.h"
#include "atman/runtime/memory_meter.h"
#include "atman/runtime/resource_limits.h"

namespace atman {

WorkResult run_work_unit(PassRunner& runner, const at::Tensor& modifiers, const WorkUnit& unit) {
  const std::vector<int64_t> rows = unit.row_indices();
  TORCH_CHECK(!rows.empty(), "run_work_unit: empty unit");
  for (int64_t r : rows) {
    TORCH_CHECK(r >= 0 && r < modifiers.size(0), "run_work_unit: row ", r, " outside the ", modifiers.size(0),
                " modifier rows");
  }
  const at::Tensor batch = unit.rows.empty() ? modifiers.slice(0, unit.begin, unit.end)
                                             : modifiers.index_select(0, at::tensor(rows, at::kLong));
  return {unit, runner.target_cross_entropy(batch)};
}

void keep_freed_memory_for_reuse() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, kHeapThresholdBytes);
    mallopt(M_TRIM_THRESHOLD, kHeapThresholdBytes);
  });
}

SweepOutput run_sweep_units(PassRunner& runner, const at::Tensor& modifiers, const std::vector<WorkUnit>& units,
                            const ProgressCallback& progress) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  keep_freed_memory_for_reuse();
  malloc_trim(0);  // what earlier work left free goes back first: the sweep's growth is its own
  const int64_t start_bytes = resident_bytes();
  SweepOutput out;
  out.clean_ce = runner.target_cross_entropy(at::ones({1, modifiers.size(1)}, at::kFloat))[0];
  out.results.reserve(units.size());
  int64_t anchor = -1;  // resident after the first unit since the start or the last hand-back
  int64_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const WorkUnit& unit : units) {
    out.results.push_back(run_work_unit(runner, modifiers, unit));
    const int64_t now = resident_bytes();
    if (anchor < 0) {
      anchor = now;
    } else if (now > anchor + std::max<int64_t>(8 * kMiB, (anchor - start_bytes) / 10)) {
      malloc_trim(0);  // the heap grew past one unit's working set: fragmentation, hand it back
      anchor = -1;
    }
    done += unit.size();
    if (progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress({done, modifiers.size(0), elapsed});
    }
  }
  malloc_trim(0);
  return out;
}

at::Tensor gather_relevance(const std::vector<WorkResult>& results, int64_t rows, const at::Tensor& clean_ce) {
  TORCH_CHECK(clean_ce.dim() == 1, "gather_relevance: expected clean CE [T], got ", clean_ce.sizes());
  at::Tensor ce = at::empty({rows, clean_ce.size(0)}, at::kDouble);
  std::vector<char> seen(rows, 0);
  for (const WorkResult& r : results) {
    const std::vector<int64_t> indices = r.unit.row_indices();
    const int64_t n = static_cast<int64_t>(indices.size());
    TORCH_CHECK(r.cross_entropy.dim() == 2 && r.cross_entropy.size(0) == n, "gather_relevance: a result of ",
                r.cross_entropy.size(0), " rows for a unit of ", n);
    for (int64_t i : indices) {
      TORCH_CHECK(i >= 0 && i < rows, "gather_relevance: row ", i, " does not fit ", rows, " rows");
      TORCH_CHECK(!seen[i], "gather_relevance: row ", i, " computed twice");
      seen[i] = 1;
    }
    if (r.unit.rows.empty()) {
      ce.slice(0, r.unit.begin, r.unit.end).copy_(r.cross_entropy);
    } else {
      ce.index_copy_(0, at::tensor(indices, at::kLong), r.cross_entropy.to(at::kDouble));
    }
  }
  TORCH_CHECK(std::all_of(seen.begin(), seen.end(), [](char c) { return c != 0; }),
              "gather_relevance: some rows were not computed");
  return ce - clean_ce.to(at::kDouble).unsqueeze(0);
}

int64_t default_batch_size(const Model& model, const PreparedInput& prepared, const ExplainOptions& options) {
  const Sequence& seq = prepared.sequence;
  const PassStrategy strategy = resolve_strategy(model, options.strategy, options.control);
  const ModelConfig& c = model.config();
  SweepMemory need = estimate_sweep_memory(c, seq.length(), prepared.modifiers.size(0),
                                           static_cast<int64_t>(seq.target_ids.size()),
                                           strategy == PassStrategy::kFullLogits, options.conceptual_threshold.has_value());
  // The compiled copy of the model (parameters are shared; bfloat16 holds a
  // cast copy) and, for prefix reuse, the cache: keys and values of every layer.
  if (options.precision == Precision::kBFloat16) {
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(model.path(), ec);
    if (!ec) need.fixed_bytes += static_cast<int64_t>(file_bytes / 2);  // float32 weights -> bfloat16
  }
  if (strategy == PassStrategy::kPrefixReuse) need.fixed_bytes += prefix_cache_bytes(c, seq.length());
  const MemoryBudget budget(options.max_memory_mb);
  const int64_t batch = budget.largest_batch(need, kMaxAutoBatchSize);
  if (batch < 1) budget.require(need.bytes(1), fmt::format("the sweep ({} positions, batch size 1)", seq.length()));
  return std::max<int64_t>(1, batch);
}

}  // namespace atman
