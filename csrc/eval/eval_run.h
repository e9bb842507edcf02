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
#include "eval/eval_rows.h"
#include "eval/eval_settings.h"
#include "eval/eval_summary.h"
#include "eval/faithfulness.h"
#include "eval/metrics.h"

namespace atman {

class ProcessGroup;  // atman/runtime/distributed.h

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
