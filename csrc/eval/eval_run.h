#pragma once
// `atman eval`: explanation methods over held-out sets, the metrics of
// docs/evaluation.md per item, a summary per task x method x setting, resumable.
//
// Output folder:
//   run.json        the model (a resumed run must use the same model) and the sets of the latest run
//   rows.jsonl      one row per (task, item, method, setting): the source of truth, appended and
//                   flushed after every row; a resumed run skips the rows found here (a torn last
//                   line from a killed run is dropped)
//   rows.csv        the same rows as CSV, rewritten from rows.jsonl at the start, then appended
//   summary.json, summary.csv, summary.md   per task x method x setting: mean and 95% bootstrap
//                   interval of each metric over the selected items, seconds per item, peak memory
//   examples/TASK/ITEM.METHOD[.SETTING].json (+ .png overlay for image items): the explanations
//                   of the first `examples` items of each task, at the base setting
//   examples/TASK/ITEM.html   one interactive page per example item with every method's maps
//                   (eval/example_pages.h)
//
// Usage:
//   auto model = Model::load("tiny_magma.pt");
//   EvalOptions options;  options.limit = 50;
//   EvalRun run(model, load_eval_sets("data/heldout"), options, "out/eval");
//   std::vector<SummaryRow> summary = run.run(progress_callback);
//   std::string tables = format_summary_markdown(summary);

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "atman/core/options.h"
#include "atman/methods/baselines.h"
#include "atman/model/model.h"
#include "eval/eval_data.h"
#include "eval/faithfulness.h"
#include "eval/metrics.h"

namespace atman {

class ProcessGroup;  // atman/runtime/distributed.h

/// One AtMan parameter setting of a sweep.
struct EvalSetting {
  double suppression_factor = kDefaultSuppressionFactor;
  std::optional<double> conceptual_threshold = kDefaultConceptualThreshold;
  /// "f=0.1,kappa=0.6" / "f=0.1,kappa=off".
  std::string label() const;
};

/// The settings of `--sweep KEY=V1,V2,...` specs (keys suppression_factor and
/// conceptual_threshold; "off" turns conceptual suppression off). Without
/// `grid`, each key is varied alone with the other at `base` (the base
/// setting first, duplicates dropped); with `grid`, every combination of the
/// swept keys' values. Throws std::invalid_argument naming a bad spec.
std::vector<EvalSetting> sweep_settings(const EvalSetting& base, const std::vector<std::string>& specs,
                                        bool grid = false);

/// What to run.
struct EvalOptions {
  std::vector<Method> methods = all_methods();
  /// Items per task, from the start of each items.jsonl (0: all);
  /// `task_limits` overrides it for the tasks it names.
  int64_t limit = 0;
  std::map<std::string, int64_t> task_limits;
  /// AtMan's settings (empty: the base setting from `explain` alone).
  std::vector<EvalSetting> settings;
  /// Base AtMan parameters, batch size (AtMan's modifier rows and IG's
  /// points per pass), threads, strategy. Granularity is always token.
  ExplainOptions explain;
  BaselineOptions baseline;
  /// Integrated Gradients' quadrature rules, one ig row each (empty: baseline.ig_rule alone).
  std::vector<IgRule> ig_rules;
  /// Faithfulness curves of every row (faithfulness.h), at these fractions (percent).
  bool faithfulness = false;
  std::vector<double> faithfulness_fractions = parse_fractions(kDefaultFaithfulnessFractions);
  /// Explanations kept under examples/ for the first items of each task.
  int64_t examples = 6;
  /// Before the timed rows of each task, every method explains the task's
  /// first item once, untimed and not recorded, so that TorchScript's
  /// first-call optimisation is not charged to the first row.
  bool warm_up = true;
  int64_t bootstrap_resamples = 2000;
  uint64_t bootstrap_seed = 20230118;
};

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

/// Reported after every row (and once at the start with the resumed rows).
struct EvalProgress {
  int64_t done = 0;     // rows finished, resumed ones included
  int64_t total = 0;
  int64_t resumed = 0;  // rows found in rows.jsonl at the start
  double elapsed_seconds = 0.0;
  std::string task;
  std::string method;
};
using EvalProgressCallback = std::function<void(const EvalProgress&)>;

class EvalRun {
 public:
  /// Checks the methods against the model and the sets against the model's
  /// modality, creates `out_dir` and checks run.json (throws with one line).
  ///
  /// With `group` (runtime/distributed.h, docs/distributed.md) this process
  /// is one rank of a sharded run: rank 0 alone reads and writes `out_dir`
  /// and sends the rows it resumes to the others; items are claimed by the
  /// ranks first come, first served (the first `examples` items of each task
  /// by rank 0, which writes their example files); the other ranks send
  /// every row to rank 0 as soon as it is measured, and rank 0 appends it to
  /// rows.jsonl, so a run killed on any rank resumes like a one-process run.
  /// Rank 0's summary is the one-process summary (timings aside); the
  /// others' run() returns an empty one.
  EvalRun(std::shared_ptr<const Model> model, std::vector<EvalSet> sets, EvalOptions options, std::string out_dir,
          ProcessGroup* group = nullptr);
  ~EvalRun();

  /// Runs every selected row not yet in rows.jsonl, then writes the summary
  /// files; returns the summary of the selected rows (task, item, method,
  /// setting order).
  std::vector<SummaryRow> run(const EvalProgressCallback& progress = {});

  const std::string& out_dir() const { return out_dir_; }
  /// Rows written or resumed that belong to the selection, in selection order.
  const std::vector<EvalRow>& selected_rows() const { return selected_; }

 private:
  std::shared_ptr<const Model> model_;
  std::vector<EvalSet> sets_;
  EvalOptions options_;
  std::string out_dir_;
  std::vector<EvalRow> selected_;
  ProcessGroup* group_ = nullptr;
};

}  // namespace atman
