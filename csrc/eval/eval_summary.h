#pragma once
// The summary of an evaluation: rows grouped by task x method x setting,
// each metric's mean with its 95% bootstrap interval, as markdown tables,
// JSON and CSV (summary.md, summary.json, summary.csv).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eval/eval_rows.h"
#include "eval/metrics.h"

namespace atman {

/// One line of the summary.
struct SummaryRow {
  std::string task;
  std::string method;
  std::string setting;
  double suppression_factor = 0.0;
  std::optional<double> conceptual_threshold;
  int64_t ig_steps = 0;
  int64_t items = 0;     // rows of this group
  int64_t errors = 0;    // rows whose explanation failed
  int64_t no_truth = 0;  // rows without ground truth positions
  MeanInterval precision, recall, average_precision, pointing;
  double seconds_mean = 0.0;
  double peak_mb_mean = 0.0;
  double peak_mb_max = 0.0;
  double resident_peak_mb_max = 0.0;
  double accuracy = 0.0;  // fraction of items the model answers (argmax) correctly
  MeanInterval ig_completeness_gap, loo_spearman, loo_kendall;
  /// Per removal operator, over the rows with faithfulness curves.
  struct Areas {
    MeanInterval aopc_morf, aopc_lerf, abpc;
  };
  Areas attention, input;
};

/// Groups rows (in the given order) by task x method x setting, in order of
/// first appearance.
std::vector<SummaryRow> summarize(const std::vector<EvalRow>& rows, int64_t resamples = 2000,
                                  uint64_t seed = 20230118);
/// One markdown table per task.
std::string format_summary_markdown(const std::vector<SummaryRow>& summary);
std::string summary_to_json(const std::vector<SummaryRow>& summary);
std::string summary_to_csv(const std::vector<SummaryRow>& summary);

}  // namespace atman
