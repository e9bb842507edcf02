#pragma once
// One evaluated (task, item, method, setting): the record of rows.jsonl and
// rows.csv (docs/evaluation.md), the source of truth of a resumable run.

#include <cstdint>
#include <optional>
#include <string>

#include "eval/faithfulness.h"
#include "eval/metrics.h"

namespace atman {

/// One evaluated (task, item, method, setting).
struct EvalRow {
  std::string task;
  std::string item;
  int64_t index = 0;  // 0-based position of the item in its set
  std::string method;
  std::string setting;  // EvalSetting::label for atman, "steps=N" for ig, "-" otherwise
  double suppression_factor = 0.0;           // atman only (NaN otherwise)
  std::optional<double> conceptual_threshold;
  int64_t ig_steps = 0;                      // ig only
  int64_t positions = 0;                     // evaluated positions
  int64_t truth_positions = 0;               // of which ground truth
  ItemMetrics metrics;                       // NaN when no ground truth or an error
  double seconds = 0.0;                      // wall time of the explanation
  double peak_mb = 0.0;                      // tracked allocator peak (atman/runtime/memory_meter.h)
  double resident_peak_mb = 0.0;             // process VmHWM after the call
  double target_log_prob = 0.0;              // log p(target), the clean model
  int correct = -1;                          // 1: every target token is the model's argmax
  std::string error;                         // non-empty when the explanation failed
  std::string ig_method;                     // ig only: the quadrature rule (ig.h)
  double ig_completeness_gap = 0.0;          // ig only: log p(E) - log p(0) - sum of R (NaN otherwise)
  /// Rank correlation with leave-one-out over the scored positions (NaN
  /// when loo is not among the methods or a map is constant).
  double loo_spearman = 0.0, loo_kendall = 0.0;
  std::optional<ItemFaithfulness> faithfulness;  // with EvalOptions::faithfulness
};

/// rows.jsonl line (no newline) and back (throws std::invalid_argument).
std::string row_to_json(const EvalRow& row);
EvalRow row_from_json(const std::string& line);
/// The CSV header line and one row (no newline).
std::string csv_header();
std::string row_to_csv(const EvalRow& row);

}  // namespace atman
