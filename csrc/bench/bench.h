#pragma once
// Measuring sweeps: peak memory, model FLOPs, the matmul peak of this
// machine, the exact limit of prefix reuse, and how two relevance maps
// differ. `atman bench` (runner/bench_command.cpp) is built on these.
//
// Usage:
//   PeakMemoryProbe probe;                        // trims the heap, resets the peak mark
//   SweepRun run = run_sweep("ours", *runner, prepared.modifiers, runner->plan(prepared.modifiers, 8));
//   double mb = probe.peak_delta_mb();            // extra resident memory at the peak

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/pass_runner.h"
#include "atman/model/model.h"
#include "eval/rank_correlation.h"  // spearman

namespace atman {

class AllocationMeter;

/// Peak resident memory of one step, measured as a delta: the constructor
/// returns freed heap memory to the system (malloc_trim) so that the step's
/// allocations show as resident growth, resets the kernel's peak mark
/// (writing 5 to /proc/self/clear_refs: VmHWM := VmRSS) and records VmRSS.
/// peak_delta_mb() is then VmHWM - that VmRSS: the most the step added at any
/// moment, counted in resident pages (what the system runs out of), including
/// allocator slack. Without clear_refs (old kernels) reliable() is false and
/// the delta is taken against the process's earlier peak instead. (The
/// malloc-independent figure is AllocationMeter's, runtime/memory_meter.h: bytes of
/// tensors alive.)
class PeakMemoryProbe {
 public:
  PeakMemoryProbe();
  double baseline_mb() const { return baseline_mb_; }
  double peak_delta_mb() const;
  bool reliable() const { return reset_; }

 private:
  double baseline_mb_ = 0.0;
  bool reset_ = false;
};

/// Analytic FLOPs of a model: 2 per multiply-add of the weight matrices of its
/// layers per position, 4 * D per (query, key) pair per layer (Q K^T and
/// attention x V), 2 * D * V per row through the LM head. Elementwise work
/// (norms, softmax, rotary) is not counted.
struct ModelCost {
  double position_flops = 0.0;  // all layers, per query position
  double pair_flops = 0.0;      // all layers, per (query, key) pair
  double head_flops = 0.0;      // per LM-head row
  int64_t layer_weights = 0;    // multiply-adds per position per layer
  std::string source;           // how layer_weights was found
  /// FLOPs of what a runner reports having computed.
  double flops(const PassCounters& c) const;
};
/// Per-layer weights are counted from the module: every 2-D parameter whose
/// name has a numeric component (blocks.3.fc_in.weight), divided by
/// num_layers; when there is none, (2 + 2 Hkv/H) D^2 + 8 D^2 (attention with
/// grouped-query K and V, MLP of 4 D).
ModelCost model_cost(const Model& model);

/// CPU time of this process (all its threads) in seconds. On a machine
/// shared with other work, FLOPs per CPU second measure efficiency without
/// the time the scheduler gave to others.
double process_cpu_seconds();

/// Throughput of torch::mm [rows, width] x [width, width] in `dtype` with the
/// current LibTorch threads: the best of `repeats` products, per wall second
/// and per CPU second of the process.
struct MatmulPeak {
  double gflops = 0.0;      // per wall second
  double cpu_gflops = 0.0;  // per CPU second
};
MatmulPeak measure_matmul_peak(int64_t width, int64_t rows, at::ScalarType dtype, int repeats);

/// The exact limit of prefix reuse for these modifier rows [N, S]: the work of
/// N full passes over the work left when every pass starts at its first
/// suppressed position (every query position costs the same: it attends all
/// S keys either way), N * S / sum_i (S - first_i).
double reuse_limit(const at::Tensor& modifiers);

/// One sweep timed: the clean pass, then every work unit.
struct SweepRun {
  std::string variant;
  at::Tensor relevance;  // float64 [N, T], R = CE(m) - CE(1)
  double seconds = 0.0;
  double cpu_seconds = 0.0;    // process CPU time of the sweep
  double peak_delta_mb = 0.0;   // resident: PeakMemoryProbe around the sweep
  double tensor_peak_mb = 0.0;  // tensors alive at the peak, above those alive at the start (with a meter)
  PassCounters counters;
  int64_t units = 0;
};
/// Runs the clean pass and `units` of `modifiers` on a fresh runner; with a
/// meter (installed before the model was loaded) also the tensor peak.
SweepRun run_sweep(const std::string& variant, PassRunner& runner, const at::Tensor& modifiers,
                   const std::vector<WorkUnit>& units, AllocationMeter* meter = nullptr);

/// How an approximate relevance map differs from an exact one (both [N] or [N, T];
/// maps compare the per-unit sums).
struct Deviation {
  double max_abs = 0.0;       // max |a - b| over every entry
  double max_relative = 0.0;  // max |a - b| / max |b|
  double spearman = 1.0;      // rank correlation of the per-unit sums (average ranks for ties)
  bool same_top = true;       // argmax of the per-unit sums agree
  int64_t top10_overlap = 0;  // units of b's 10 largest per-unit sums that a ranks among its 10 (ties counted)
  double top10_max_abs = 0.0; // max |a - b| of the per-unit sums over the exact map's 10 largest
};
Deviation compare_relevance(const at::Tensor& approx, const at::Tensor& exact);

}  // namespace atman
