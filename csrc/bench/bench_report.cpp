#include "bench/bench_report.h"

#include <fmt/format.h>

namespace atman {

nlohmann::json bench_row_json(const BenchRow& r) {
  return {{"case", r.case_name},         {"variant", r.variant},
          {"strategy", r.strategy},      {"positions_in_sequence", r.length},
          {"explained_units", r.rows},   {"wall_seconds", r.seconds}, {"cpu_seconds", r.cpu_seconds}, {"cpu_speedup", r.cpu_speedup},
          {"cpu_gflops", r.cpu_gflops}, {"cpu_matmul_peak_fraction", r.cpu_peak_fraction},
          {"cpu_limit_fraction", r.cpu_limit_fraction},
          {"speedup", r.speedup},        {"positions_computed", r.positions},
          {"model_calls", r.calls}, {"gflop", r.gflop},      {"gflops", r.gflops},
          {"matmul_peak_fraction", r.peak_fraction}, {"batch_size", r.batch},
          {"peak_memory_mb", r.peak_mb}, {"plain_forward_memory_mb", r.plain_forward_mb},
          {"memory_ratio", r.memory_ratio},
          {"tensor_peak_mb", r.tensor_mb}, {"plain_forward_tensor_mb", r.plain_tensor_mb},
          {"tensor_memory_ratio", r.tensor_ratio}, {"reuse_limit", r.reuse_limit},
          {"limit_fraction", r.limit_fraction}, {"max_abs_diff", r.max_abs_diff},
          {"agree", r.agree},            {"max_relative_error", r.max_rel_err},
          {"spearman", r.spearman},      {"same_top", r.same_top},
          {"top10_overlap", r.top10_overlap}, {"top10_max_abs_diff", r.top10_max_abs}, {"recomputed", r.recomputed}};
}

std::string bench_rows_csv(const std::vector<BenchRow>& rows) {
  std::string out =
      "case,variant,strategy,positions_in_sequence,explained_units,wall_seconds,cpu_seconds,speedup,cpu_speedup,"
      "positions_computed,model_calls,gflops,matmul_peak_fraction,cpu_gflops,cpu_matmul_peak_fraction,batch_size,"
      "peak_memory_mb,plain_forward_memory_mb,memory_ratio,tensor_peak_mb,plain_forward_tensor_mb,tensor_memory_ratio,"
      "reuse_limit,limit_fraction,cpu_limit_fraction,"
      "max_abs_diff,agree,max_relative_error,spearman,same_top,top10_overlap,top10_max_abs_diff,recomputed\n";
  for (const BenchRow& r : rows) {
    out += fmt::format(
        "{},{},{},{},{},{:.6f},{:.6f},{:.4f},{:.4f},{},{},{:.3f},{:.4f},{:.3f},{:.4f},{},{:.2f},{:.2f},{:.4f},{:.2f},"
        "{:.2f},{:.4f},{:.4f},"
        "{:.4f},{:.4f},{:.3e},{},{:.3e},{:.6f},{},{},{:.3e},{}\n",
        r.case_name, r.variant, r.strategy, r.length, r.rows, r.seconds, r.cpu_seconds, r.speedup, r.cpu_speedup,
        r.positions, r.calls, r.gflops, r.peak_fraction, r.cpu_gflops, r.cpu_peak_fraction, r.batch, r.peak_mb,
        r.plain_forward_mb, r.memory_ratio, r.tensor_mb, r.plain_tensor_mb, r.tensor_ratio, r.reuse_limit,
        r.limit_fraction, r.cpu_limit_fraction, r.max_abs_diff, r.agree ? 1 : 0, r.max_rel_err, r.spearman, r.same_top ? 1 : 0,
        r.top10_overlap, r.top10_max_abs, r.recomputed);
  }
  return out;
}

nlohmann::json coarse_to_fine_json(const CoarseToFineBench& b) {
  return {{"tiles", b.tiles},           {"refine_fraction", b.refine_fraction}, {"full_seconds", b.full_seconds},
          {"fast_seconds", b.fast_seconds}, {"speedup", b.speedup},               {"full_passes", b.full_passes},
          {"fast_passes", b.fast_passes},   {"patches", b.patches},               {"refined", b.refined},
          {"spearman", b.spearman},         {"same_top", b.same_top}};
}

}  // namespace atman
