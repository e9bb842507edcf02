#include "bench/bench.h"

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <numeric>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/script.h>

#include "atman/core/explainer.h"
#include "atman/core/sweep.h"
#include "atman/runtime/memory_meter.h"
#include "atman/runtime/resource_limits.h"

namespace atman {
namespace {

bool has_numeric_component(const std::string& name) {
  size_t begin = 0;
  while (begin <= name.size()) {
    size_t end = name.find('.', begin);
    if (end == std::string::npos) end = name.size();
    if (end > begin && std::all_of(name.begin() + begin, name.begin() + end, [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      return true;
    }
    begin = end + 1;
  }
  return false;
}

std::vector<double> unit_sums(const at::Tensor& relevance) {
  at::Tensor r = relevance.to(at::kDouble);
  if (r.dim() == 2) r = r.sum(1);
  r = r.contiguous();
  return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
}

}  // namespace

PeakMemoryProbe::PeakMemoryProbe() {
  malloc_trim(0);
  reset_ = reset_resident_peak();
  baseline_mb_ = reset_ ? static_cast<double>(resident_bytes()) / 1048576.0 : resident_peak_mb();
}

double PeakMemoryProbe::peak_delta_mb() const { return std::max(0.0, resident_peak_mb() - baseline_mb_); }

double ModelCost::flops(const PassCounters& c) const {
  return position_flops * static_cast<double>(c.positions) + pair_flops * static_cast<double>(c.attended) +
         head_flops * static_cast<double>(c.projected_rows);
}

ModelCost model_cost(const Model& model) {
  const ModelConfig& c = model.config();
  const double d = static_cast<double>(c.hidden_size);
  int64_t weights = 0;
  for (const auto& p : model.module().named_parameters(/*recurse=*/true)) {
    if (p.value.dim() == 2 && has_numeric_component(p.name)) weights += p.value.numel();
  }
  ModelCost cost;
  if (weights > 0) {
    cost.layer_weights = weights / c.num_layers;
    cost.source = "2-D weights of the numbered layers";
  } else {
    // Q and output D^2 each, K and V D^2 * Hkv / H each (grouped-query attention), MLP 8 D^2.
    cost.layer_weights = 10 * c.hidden_size * c.hidden_size + 2 * c.hidden_size * c.hidden_size * c.kv_heads() / c.num_heads;
    cost.source = "(2 + 2 Hkv/H) D^2 + 8 D^2 (no numbered layer weights found)";
  }
  cost.position_flops = 2.0 * static_cast<double>(cost.layer_weights) * static_cast<double>(c.num_layers);
  cost.pair_flops = 4.0 * d * static_cast<double>(c.num_layers);
  cost.head_flops = 2.0 * d * static_cast<double>(c.vocab_size);
  return cost;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

MatmulPeak measure_matmul_peak(int64_t width, int64_t rows, at::ScalarType dtype, int repeats) {
  c10::InferenceMode guard;
  const at::Tensor a = at::randn({rows, width}).to(dtype);
  const at::Tensor b = at::randn({width, width}).to(dtype);
  at::Tensor out = at::mm(a, b);
  double best = 1e30, best_cpu = 1e30;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    const double cpu = process_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    at::mm_out(out, a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    best_cpu = std::min(best_cpu, std::max(1e-9, process_cpu_seconds() - cpu));
  }
  const double flops = 2.0 * static_cast<double>(rows) * width * width;
  return {flops / best / 1e9, flops / best_cpu / 1e9};
}

double reuse_limit(const at::Tensor& modifiers) {
  const int64_t n = modifiers.size(0), s = modifiers.size(1);
  double left = 0.0;
  for (int64_t first : first_suppressed(modifiers)) left += static_cast<double>(s - first);
  return left > 0.0 ? static_cast<double>(n) * static_cast<double>(s) / left : 0.0;
}

SweepRun run_sweep(const std::string& variant, PassRunner& runner, const at::Tensor& modifiers,
                   const std::vector<WorkUnit>& units, AllocationMeter* meter) {
  c10::InferenceMode guard;
  SweepRun run;
  run.variant = variant;
  run.units = static_cast<int64_t>(units.size());
  const PassCounters before = runner.counters();
  PeakMemoryProbe probe;
  if (meter != nullptr) meter->reset_peak();
  const double cpu = process_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  const SweepOutput out = run_sweep_units(runner, modifiers, units);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.cpu_seconds = process_cpu_seconds() - cpu;
  run.peak_delta_mb = probe.peak_delta_mb();
  if (meter != nullptr) run.tensor_peak_mb = static_cast<double>(meter->peak_bytes_since_reset()) / 1048576.0;
  run.relevance = gather_relevance(out.results, modifiers.size(0), out.clean_ce);
  const PassCounters& after = runner.counters();
  run.counters.calls = after.calls - before.calls;
  run.counters.positions = after.positions - before.positions;
  run.counters.attended = after.attended - before.attended;
  run.counters.projected_rows = after.projected_rows - before.projected_rows;
  return run;
}

Deviation compare_relevance(const at::Tensor& approx, const at::Tensor& exact) {
  TORCH_CHECK(approx.sizes() == exact.sizes(), "compare_relevance: ", approx.sizes(), " vs ", exact.sizes());
  Deviation d;
  const at::Tensor a = approx.to(at::kDouble), b = exact.to(at::kDouble);
  d.max_abs = (a - b).abs().max().item<double>();
  const double scale = b.abs().max().item<double>();
  d.max_relative = scale > 0.0 ? d.max_abs / scale : (d.max_abs > 0.0 ? INFINITY : 0.0);
  const std::vector<double> sa = unit_sums(a), sb = unit_sums(b);
  d.spearman = spearman(sa, sb);  // eval/rank_correlation.h: NaN for a constant map
  if (std::isnan(d.spearman)) d.spearman = sa == sb ? 1.0 : 0.0;
  d.same_top = !sa.empty() && std::max_element(sa.begin(), sa.end()) - sa.begin() ==
                                  std::max_element(sb.begin(), sb.end()) - sb.begin();
  const auto top10 = [](const std::vector<double>& sums) {
    std::vector<size_t> order(sums.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    const size_t k = std::min<size_t>(10, order.size());
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](size_t x, size_t y) { return sums[x] > sums[y]; });
    order.resize(k);
    return order;
  };
  const std::vector<size_t> ta = top10(sa), tb = top10(sb);
  // A unit of the exact top 10 is found when the approximation ranks it among
  // its own 10 up to ties: at least its 10th value, less float32's noise
  // (tied units, e.g. repeated words' identical neighbourhoods, are picked in
  // any order by either map).
  double noise = 1e-6;
  for (double x : sa) noise = std::max(noise, 1e-6 * std::abs(x));
  const double tenth = ta.empty() ? 0.0 : sa[ta.back()];
  for (size_t i : tb) {
    d.top10_overlap += sa[i] >= tenth - noise;
    d.top10_max_abs = std::max(d.top10_max_abs, std::abs(sa[i] - sb[i]));
  }
  return d;
}

}  // namespace atman
