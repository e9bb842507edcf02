#pragma once
// One benchmark case of `atman bench`: the published AtMan algorithm (every
// pass a full recompute with [B, S, V] logits, the module as loaded, a fixed
// batch) against ours (prefix reuse, target-only log-probs, frozen graph,
// memory-sized batches) and, on request, ours in bfloat16, on the same input
// in one process; each variant's time, FLOPs, memory and agreement.
//
// Usage:
//   AllocationMeter meter;                       // before the model is loaded
//   Bench bench(model, BenchSettings{}, &meter);
//   std::vector<BenchRow> rows = bench.run_case("single-token", input, options, /*with_bf16=*/true);

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/core/pass_runner.h"
#include "bench/bench.h"

namespace atman {

/// One measured (case, variant).
struct BenchRow {
  std::string case_name;  // single-token, conceptual, length-N
  std::string variant;    // published, ours, ours-bf16, ours-bf16+fp32 (the top units recomputed in float32)
  std::string strategy;
  int64_t length = 0;
  int64_t rows = 0;
  double seconds = 0.0;      // wall, best of the repeats
  double cpu_seconds = 0.0;  // process CPU time, best of the repeats
  double speedup = 0.0;      // published wall time / this one
  double cpu_speedup = 0.0;  // the same in CPU time
  int64_t positions = 0;
  double gflop = 0.0;   // model FLOPs of the sweep / 1e9
  double gflops = 0.0;  // model FLOPs per wall second
  double peak_fraction = 0.0;
  double cpu_gflops = 0.0;  // model FLOPs per CPU second
  double cpu_peak_fraction = 0.0;
  int64_t batch = 0;
  int64_t calls = 0;
  double peak_mb = 0.0;           // resident peak above the start (PeakMemoryProbe)
  double plain_forward_mb = 0.0;  // the same for one plain forward at this batch
  double memory_ratio = 0.0;
  double tensor_mb = 0.0;         // tensors alive at the peak (AllocationMeter)
  double plain_tensor_mb = 0.0;
  double tensor_ratio = 0.0;
  double reuse_limit = 0.0;
  double limit_fraction = 0.0;      // speedup / reuse_limit
  double cpu_limit_fraction = 0.0;  // cpu_speedup / reuse_limit
  double max_abs_diff = 0.0;  // vs published (fp32 variants) or vs ours fp32 (bf16)
  bool agree = true;
  double max_rel_err = 0.0;
  double spearman = 1.0;
  bool same_top = true;
  int64_t top10_overlap = 10;  // of the reference's 10 largest units (bf16 rows: vs ours fp32)
  double top10_max_abs = 0.0;  // largest |dR| among them
  int64_t recomputed = 0;      // ours-bf16+fp32: units recomputed in float32
  at::Tensor relevance;
};

/// How the variants run.
struct BenchSettings {
  int64_t published_batch = 0;  // rows per pass of the published algorithm (0: ours)
  int64_t repeat = 1;           // runs of every variant, interleaved; the best time is kept
};

class Bench {
 public:
  Bench(std::shared_ptr<const Model> model, BenchSettings settings, AllocationMeter* meter);

  /// Runs one input through every variant, `repeat` times interleaved; keeps
  /// the best time and the largest memory of each variant. Rows: published,
  /// ours, then ours-bf16 and ours-bf16+fp32 (the bf16 sweep with its top
  /// units recomputed in float32, as `--precision bf16` runs) when `with_bf16`.
  std::vector<BenchRow> run_case(const std::string& case_name, const ExplainInput& input,
                                 const ExplainOptions& options, bool with_bf16);

  /// The matmul peaks of this machine at the model's width (measured on first use).
  const MatmulPeak& fp32_peak();
  const MatmulPeak& bf16_peak();
  const ModelCost& cost() const { return cost_; }
  const Model& model() const { return *model_; }

 private:
  struct Variant {
    std::string name;
    std::shared_ptr<const CompiledModel> compiled;
    PassStrategy strategy;
    int64_t batch;
  };
  std::vector<Variant> variants(int64_t batch, bool with_bf16) const;
  void time_variants(const std::string& case_name, const PreparedInput& prepared, const SweepInput& sweep,
                     const std::vector<Variant>& variants, std::vector<BenchRow>& rows);
  BenchRow recompute_row(const PreparedInput& prepared, const SweepInput& sweep, const BenchRow& bf16,
                         const ExplainOptions& options);
  void derive_figures(const at::Tensor& modifiers, const at::Tensor& embeddings, std::vector<BenchRow>& rows);
  void plain_forward(const at::Tensor& embeddings, int64_t batch, double* resident_mb, double* tensor_mb);

  std::shared_ptr<const Model> model_;
  BenchSettings settings_;
  Explainer explainer_;
  AllocationMeter* meter_;
  ModelCost cost_;
  double flops_[4] = {0, 0, 0, 0};
  MatmulPeak fp32_peak_;
  MatmulPeak bf16_peak_;
};

}  // namespace atman
