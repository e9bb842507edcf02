#include "bench/bench_case.h"

#include <algorithm>
#include <chrono>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "atman/core/float32_recompute.h"
#include "atman/core/sweep.h"
#include "atman/model/target_pass.h"
#include "atman/runtime/memory_meter.h"

namespace atman {

Bench::Bench(std::shared_ptr<const Model> model, BenchSettings settings, AllocationMeter* meter)
    : model_(std::move(model)), settings_(settings), explainer_(model_), meter_(meter), cost_(model_cost(*model_)) {}

std::vector<BenchRow> Bench::run_case(const std::string& case_name, const ExplainInput& input,
                                      const ExplainOptions& options, bool with_bf16) {
  c10::InferenceMode guard;
  const PreparedInput prepared = explainer_.prepare(input, options);
  const SweepInput sweep{prepared.embeddings, prediction_rows(prepared.sequence), prepared.sequence.target_ids};
  const int64_t batch = options.batch_size > 0 ? options.batch_size : default_batch_size(*model_, prepared, options);
  const std::vector<Variant> all = variants(batch, with_bf16);
  std::vector<BenchRow> rows(all.size());
  time_variants(case_name, prepared, sweep, all, rows);
  if (with_bf16) rows.push_back(recompute_row(prepared, sweep, rows[2], options));
  derive_figures(prepared.modifiers, prepared.embeddings, rows);
  return rows;
}

std::vector<Bench::Variant> Bench::variants(int64_t batch, bool with_bf16) const {
  const int64_t published_batch = settings_.published_batch > 0 ? settings_.published_batch : batch;
  std::vector<Variant> out = {
      {"published", CompiledModel::as_loaded(*model_), PassStrategy::kFullLogits, published_batch},
      {"ours", explainer_.compiled(Precision::kFloat32), PassStrategy::kAuto, batch}};
  if (with_bf16) out.push_back({"ours-bf16", explainer_.compiled(Precision::kBFloat16), PassStrategy::kAuto, batch});
  return out;
}

// Every variant `repeat` times, interleaved: the best time and the largest memory of each.
void Bench::time_variants(const std::string& case_name, const PreparedInput& prepared, const SweepInput& sweep,
                          const std::vector<Variant>& variants, std::vector<BenchRow>& rows) {
  for (int64_t r = 0; r < settings_.repeat; ++r) {
    for (size_t v = 0; v < variants.size(); ++v) {
      auto runner = make_pass_runner(*model_, sweep, variants[v].strategy, variants[v].compiled);
      const auto units = variants[v].name == "published" ? split_work(prepared.modifiers.size(0), variants[v].batch)
                                                          : runner->plan(prepared.modifiers, variants[v].batch);
      const SweepRun run = run_sweep(variants[v].name, *runner, prepared.modifiers, units, meter_);
      BenchRow& row = rows[v];
      if (r == 0 || run.seconds < row.seconds) row.seconds = run.seconds;
      if (r == 0 || run.cpu_seconds < row.cpu_seconds) row.cpu_seconds = run.cpu_seconds;
      row.peak_mb = std::max(row.peak_mb, run.peak_delta_mb);
      row.tensor_mb = std::max(row.tensor_mb, run.tensor_peak_mb);
      row.case_name = case_name;
      row.variant = variants[v].name;
      row.strategy = runner->name();
      row.length = prepared.sequence.length();
      row.rows = prepared.modifiers.size(0);
      row.positions = run.counters.positions;
      row.calls = run.counters.calls;
      row.batch = variants[v].batch;
      row.relevance = run.relevance;
      flops_[v] = cost_.flops(run.counters);
    }
  }
}

// The bfloat16 row's top units recomputed in float32 (core/float32_recompute.h):
// its time and FLOPs plus the recomputation's, its map with those units exact.
BenchRow Bench::recompute_row(const PreparedInput& prepared, const SweepInput& sweep, const BenchRow& bf16,
                              const ExplainOptions& options) {
  BenchRow row = bf16;
  row.variant = "ours-bf16+fp32";
  const std::vector<int64_t> recompute = rows_to_recompute(bf16.relevance, options.recompute_top,
                                                           options.recompute_margin);
  auto runner = make_pass_runner(*model_, sweep, PassStrategy::kAuto, explainer_.compiled(Precision::kFloat32));
  const double cpu = process_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  const Float32Values exact = recompute_in_float32(*runner, prepared.modifiers, recompute, bf16.batch, {});
  row.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  row.cpu_seconds += process_cpu_seconds() - cpu;
  row.relevance = bf16.relevance.clone();
  for (size_t k = 0; k < recompute.size(); ++k) {
    row.relevance[recompute[k]] = exact.relevance[static_cast<int64_t>(k)].to(row.relevance.scalar_type());
  }
  row.recomputed = static_cast<int64_t>(recompute.size());
  row.positions += runner->counters().positions;
  flops_[3] = flops_[2] + cost_.flops(runner->counters());
  return row;
}

// What follows from the timings: memory against one plain forward of the
// module as loaded at each variant's batch size, FLOP rates against the
// matmul peak, speed-ups against the published row (rows[0]) and the reuse
// limit, agreement with the published relevance (bf16: with ours, rows[1]).
void Bench::derive_figures(const at::Tensor& modifiers, const at::Tensor& embeddings, std::vector<BenchRow>& rows) {
  const double limit = reuse_limit(modifiers);
  for (size_t v = 0; v < rows.size(); ++v) {
    BenchRow& row = rows[v];
    plain_forward(embeddings, row.batch, &row.plain_forward_mb, &row.plain_tensor_mb);
    row.memory_ratio = row.plain_forward_mb > 0 ? row.peak_mb / row.plain_forward_mb : 0.0;
    row.tensor_ratio = row.plain_tensor_mb > 0 ? row.tensor_mb / row.plain_tensor_mb : 0.0;
    row.gflop = flops_[v] / 1e9;
    row.gflops = flops_[v] / row.seconds / 1e9;
    row.cpu_gflops = flops_[v] / row.cpu_seconds / 1e9;
    const bool bf16 = row.variant.rfind("ours-bf16", 0) == 0;
    const MatmulPeak& peak = bf16 ? bf16_peak() : fp32_peak();
    row.peak_fraction = row.gflops / peak.gflops;
    row.cpu_peak_fraction = row.cpu_gflops / peak.cpu_gflops;
    row.speedup = rows[0].seconds / row.seconds;
    row.cpu_speedup = rows[0].cpu_seconds / row.cpu_seconds;
    row.reuse_limit = limit;
    row.limit_fraction = row.speedup / limit;
    row.cpu_limit_fraction = row.cpu_speedup / limit;
    const Deviation d = compare_relevance(row.relevance, bf16 ? rows[1].relevance : rows[0].relevance);
    row.max_abs_diff = d.max_abs;
    // Within 1e-5, relative to the largest |R| where that exceeds 1: float32
    // sums over 1024 keys in another order differ by more than 1e-5 absolute
    // on relevance of a few nats (2.3e-5 of 2.3 here).
    row.agree = bf16 || d.max_abs <= 1e-5 || d.max_relative <= 1e-5;
    row.max_rel_err = d.max_relative;
    row.spearman = d.spearman;
    row.same_top = d.same_top;
    row.top10_overlap = d.top10_overlap;
    row.top10_max_abs = d.top10_max_abs;
  }
}

const MatmulPeak& Bench::fp32_peak() {
  if (fp32_peak_.gflops <= 0) fp32_peak_ = measure_matmul_peak(model_->config().hidden_size, 1024, at::kFloat, 30);
  return fp32_peak_;
}

const MatmulPeak& Bench::bf16_peak() {
  if (bf16_peak_.gflops <= 0) bf16_peak_ = measure_matmul_peak(model_->config().hidden_size, 1024, at::kBFloat16, 30);
  return bf16_peak_;
}

// One forward of the module as loaded (warm) on `batch` rows of ones; the
// median of three measurements (each after handing free heap pages back).
void Bench::plain_forward(const at::Tensor& embeddings, int64_t batch, double* resident_mb, double* tensor_mb) {
  c10::InferenceMode guard;
  const at::Tensor ones = at::ones({batch, embeddings.size(1)}, at::kFloat);
  std::vector<double> resident, tensors;
  for (int i = 0; i < 3; ++i) {
    PeakMemoryProbe probe;
    if (meter_ != nullptr) meter_->reset_peak();
    { const at::Tensor logits = model_->forward(embeddings, ones); }
    resident.push_back(probe.peak_delta_mb());
    tensors.push_back(meter_ != nullptr ? static_cast<double>(meter_->peak_bytes_since_reset()) / 1048576.0 : 0.0);
  }
  std::sort(resident.begin(), resident.end());
  std::sort(tensors.begin(), tensors.end());
  *resident_mb = resident[1];
  *tensor_mb = tensors[1];
}

}  // namespace atman
