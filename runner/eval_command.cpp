// `atman eval`: explanation methods over held-out sets, with the metrics of
// docs/evaluation.md, summary tables, sweeps and plots.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "atman/atman.h"
#include "atman/base/fingerprint.h"
#include "atman/core/names.h"
#include "atman/methods/baselines.h"
#include "coarse_to_fine_eval.h"
#include "commands.h"
#include "distributed_flags.h"
#include "eval/eval_data.h"
#include "eval/eval_run.h"
#include "flag_checks.h"
#include "input_flags.h"
#include "progress.h"
#include "unit_flags.h"

#ifndef ATMAN_PLOT_SCRIPT
#define ATMAN_PLOT_SCRIPT ""
#endif

namespace atman::runner {
namespace {

struct EvalArgs {
  UnitFlags unit_flags;  // --image-granularity, --image-search, --refine-fraction (unit_flags.h)
  std::string model;
  std::string data;
  std::vector<std::string> methods;
  std::string limit = "0";
  std::string out;
  std::vector<std::string> sweeps;
  bool sweep_grid = false;
  double suppression_factor = ExplainOptions{}.suppression_factor;
  std::string conceptual_threshold = default_conceptual_threshold_text();
  int64_t ig_steps = BaselineOptions{}.ig_steps;
  std::string ig_methods = ig_rule_name(BaselineOptions{}.ig_rule);
  bool faithfulness = false;
  std::string faithfulness_fractions = kDefaultFaithfulnessFractions;
  int64_t batch_size = 32;
  int64_t threads = 0;
  int64_t examples = 6;
  int64_t bootstrap = 2000;
  bool no_plots = false;
  bool quiet = false;
  DistributedArgs dist;
};

std::vector<Method> parse_methods(const std::vector<std::string>& given) {
  std::vector<Method> out;
  for (const std::string& list : given) {
    size_t at = 0;
    while (at <= list.size()) {
      const size_t comma = std::min(list.find(',', at), list.size());
      const std::string name = list.substr(at, comma - at);
      at = comma + 1;
      if (name.empty()) continue;
      if (name == "all") {
        for (Method m : all_methods()) {
          if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
        }
        continue;
      }
      Method m;
      try {
        m = parse_method(name);
      } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("--methods: ") + e.what());
      }
      if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
    }
  }
  return out.empty() ? all_methods() : out;
}

// "N" (every task) or "TASK=N,..." (those tasks; others all), mixable: "50,facts_qa=500".
void parse_limit(const std::string& text, EvalOptions& options) {
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string part = text.substr(at, comma - at);
    at = comma + 1;
    const size_t eq = part.find('=');
    const std::string number = eq == std::string::npos ? part : part.substr(eq + 1);
    int64_t value = -1;
    size_t used = 0;
    try {
      value = std::stoll(number, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (number.empty() || used != number.size() || value < 0 || (eq != std::string::npos && eq == 0)) {
      throw UsageError("--limit must be N or TASK=N,... with N >= 0 (0: all items), got \"" + text + "\"");
    }
    if (eq == std::string::npos) {
      options.limit = value;
    } else {
      options.task_limits[part.substr(0, eq)] = value;
    }
  }
}

std::string python_interpreter() {
  if (const char* env = std::getenv("ATMAN_PYTHON"); env && *env) return env;
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// Runs tools/plot_eval.py when python3 with matplotlib is there; prints where the PNGs are.
void make_plots(const std::string& out_dir, bool quiet) {
  std::string script = ATMAN_PLOT_SCRIPT;
  if (const char* env = std::getenv("ATMAN_PLOT_SCRIPT"); env && *env) script = env;
  if (script.empty() || !std::filesystem::exists(script)) {
    std::fprintf(stderr, "atman: plots skipped: tools/plot_eval.py not found (set ATMAN_PLOT_SCRIPT)\n");
    return;
  }
  const std::string python = python_interpreter();
  const std::string probe = shell_quote(python) + " -c 'import matplotlib' >/dev/null 2>&1";
  if (std::system(probe.c_str()) != 0) {
    std::fprintf(stderr,
                 "atman: plots skipped: %s cannot import matplotlib (Debian: apt-get install python3-matplotlib)\n",
                 python.c_str());
    return;
  }
  const std::string command = shell_quote(python) + " " + shell_quote(script) + " --run " + shell_quote(out_dir);
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) {
    std::fprintf(stderr, "atman: plots skipped: cannot run %s\n", script.c_str());
    return;
  }
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
  const int status = pclose(pipe);
  if (status != 0) {
    std::fprintf(stderr, "atman: plots failed (%s exited with status %d)\n", script.c_str(), status);
    return;
  }
  if (!quiet) std::fputs(output.c_str(), stdout);
}

int eval_as_rank(const EvalArgs& a, const EvalOptions& options, ProcessGroup* group);

// --ig-method RULE[,RULE...]: one ig row per rule.
void parse_ig_methods(const EvalArgs& a, EvalOptions& options) {
  std::string list = a.ig_methods;
  for (size_t at = 0; at <= list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string name = list.substr(at, comma - at);
    at = comma + 1;
    IgRule rule;
    try {
      rule = parse_ig_rule(name);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("--ig-method: ") + e.what());
    }
    if (rule == IgRule::kRiemannTrapezoid && a.ig_steps < 2) {
      throw UsageError("--ig-method riemann-trapezoid needs --ig-steps >= 2");
    }
    if (std::find(options.ig_rules.begin(), options.ig_rules.end(), rule) == options.ig_rules.end()) {
      options.ig_rules.push_back(rule);
    }
  }
  options.baseline.ig_rule = options.ig_rules.front();
}

int run_eval(const EvalArgs& a) {
  check_real_flag("--suppression-factor", a.suppression_factor, 0.0, kMaxSuppressionFactor);
  check_int_flag("--ig-steps", a.ig_steps, 1, 100000);
  check_int_flag("--batch-size", a.batch_size, 0, kMaxBatchSize);
  check_int_flag("--threads", a.threads, 0, kMaxThreads);
  check_int_flag("--examples", a.examples, 0, 1000000);
  check_int_flag("--bootstrap", a.bootstrap, 1, 1000000);

  EvalOptions options;
  options.methods = parse_methods(a.methods);
  parse_limit(a.limit, options);
  options.explain.suppression_factor = a.suppression_factor;
  options.explain.conceptual_threshold = parse_threshold_flag(a.conceptual_threshold);
  options.explain.batch_size = a.batch_size;
  options.explain.threads = a.threads;
  options.baseline.ig_steps = a.ig_steps;
  parse_ig_methods(a, options);
  options.faithfulness = a.faithfulness;
  try {
    options.faithfulness_fractions = parse_fractions(a.faithfulness_fractions);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  options.examples = a.examples;
  options.bootstrap_resamples = a.bootstrap;
  const EvalSetting base{options.explain.suppression_factor, options.explain.conceptual_threshold};
  try {
    options.settings = sweep_settings(base, a.sweeps, a.sweep_grid);
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }

  apply_unit_flags(a.unit_flags, "atman", options.explain);
  if (options.explain.image_search == ImageSearch::kCoarseToFine) {  // the comparison alone (coarse_to_fine_eval.h)
    return run_coarse_to_fine_eval(a.model, a.data, a.out, options.explain, options.limit, a.quiet);
  }
  if (options.explain.image_granularity != 0) {
    throw UsageError("atman eval scores patch maps: --image-granularity needs --image-search coarse-to-fine");
  }
  if (a.dist.processes > 0) return run_processes(a.dist);
  // One rank of a sharded run (docs/distributed.md): torchrun's environment or --distributed.
  const std::optional<GroupConfig> group_config = resolve_group(a.dist);
  options.explain.threads = rank_threads(options.explain.threads, group_config);
  std::unique_ptr<ProcessGroup> group;
  if (group_config) group = join_group(*group_config);
  return as_rank(group.get(), [&] { return eval_as_rank(a, options, group.get()); });
}

int eval_as_rank(const EvalArgs& a, const EvalOptions& options, ProcessGroup* group) {
  const bool root = !group || group->is_root();
  std::vector<EvalSet> sets = load_eval_sets(a.data);
  std::shared_ptr<const Model> model = Model::load(a.model);
  if (group) {
    // Every rank must run the same items with the same model and options: a hash of them, checked at start-up.
    std::string what = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}", fmt::join(a.methods, ","), a.limit,
                                   fmt::join(a.sweeps, ";"), a.sweep_grid, a.suppression_factor,
                                   a.conceptual_threshold, a.ig_steps, a.batch_size, a.examples);
    what += fmt::format("|{}|{}|{}", a.ig_methods, a.faithfulness, a.faithfulness_fractions);
    for (const EvalSet& set : sets) {
      what += "|" + set.task + "|" + file_fingerprint_hex((std::filesystem::path(set.folder) / "items.jsonl").string());
    }
    group->check_same("the model and the items", fingerprint_hex(what, file_fingerprint_hex(a.model)));
  }
  EvalRun run(model, std::move(sets), options, a.out, group);

  ProgressBar bar(!a.quiet && root, "rows");
  bool announced = false;
  const std::vector<SummaryRow> summary = run.run([&](const EvalProgress& p) {
    if (!announced) {
      announced = true;
      if (!a.quiet && p.resumed > 0) {
        std::fprintf(stderr, "atman: resuming: %lld of %lld rows already in %s/rows.jsonl\n",
                     static_cast<long long>(p.resumed), static_cast<long long>(p.total), a.out.c_str());
      }
    }
    bar.update(p.done - p.resumed, p.total - p.resumed, p.elapsed_seconds);
  });
  bar.finish();
  if (!root) {
    group->finish();
    return 0;
  }

  std::fputs(format_summary_markdown(summary).c_str(), stdout);
  std::printf("rows: %s/rows.csv, %s/rows.jsonl\nsummary: %s/summary.md, %s/summary.csv, %s/summary.json\n",
              a.out.c_str(), a.out.c_str(), a.out.c_str(), a.out.c_str(), a.out.c_str());
  std::fflush(stdout);
  if (!a.no_plots) make_plots(a.out, a.quiet);
  if (group) group->finish();
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Compare explanation methods on held-out sets: precision, recall, AP, pointing game (docs/evaluation.md)");
  add_model_flag(sub, args->model);
  sub->add_option("--data", args->data,
                  "Folder with items.jsonl, or a folder of such folders (e.g. data/heldout)")
      ->required();
  sub->add_option("--methods", args->methods, "Comma-separated: " + fmt::format("{}", fmt::join(method_names(), ", ")) + ", all")
      ->default_str("all");
  sub->add_option("--limit", args->limit,
                  "Items per task from the start of each set (0: all); or TASK=N,... per task")
      ->capture_default_str();
  sub->add_option("--out", args->out, "Output folder (rows, summary, examples, plots); a rerun resumes")
      ->required();
  sub->add_option("--sweep", args->sweeps,
                  "AtMan setting sweep KEY=V1,V2,... (suppression_factor, conceptual_threshold; 'off'); repeatable");
  sub->add_flag("--sweep-grid", args->sweep_grid, "Every combination of the swept values (default: one key at a time)");
  sub->add_option("--suppression-factor", args->suppression_factor, "AtMan's base suppression factor")
      ->capture_default_str();
  sub->add_option("--conceptual-threshold", args->conceptual_threshold,
                  "AtMan's base conceptual threshold, or off")
      ->capture_default_str();
  sub->add_option("--ig-steps", args->ig_steps, "Integrated Gradients interpolation points")->capture_default_str();
  sub->add_option("--ig-method", args->ig_methods,
                  "Integrated Gradients quadrature, comma-separated for one ig row each: riemann-middle, riemann-left, "
                  "riemann-right, riemann-trapezoid, gauss-legendre")
      ->capture_default_str();
  sub->add_flag("--faithfulness", args->faithfulness,
                "Deletion curves (MoRF, LeRF) of every map under attention suppression and input removal: AOPC, ABPC");
  sub->add_option("--faithfulness-fractions", args->faithfulness_fractions,
                  "Percentages of the scored units removed at each step of the curves")
      ->capture_default_str();
  sub->add_option("--batch-size", args->batch_size,
                  "AtMan modifier rows and IG points per pass (0: automatic)")
      ->capture_default_str();
  add_threads_flag(sub, args->threads);
  sub->add_option("--examples", args->examples, "First items per task whose explanations are kept in OUT/examples")
      ->capture_default_str();
  sub->add_option("--bootstrap", args->bootstrap, "Bootstrap resamples of the 95% intervals (fixed seed)")
      ->capture_default_str();
  add_image_unit_flags(sub, args->unit_flags);
  sub->add_flag("--no-plots", args->no_plots, "Do not run tools/plot_eval.py");
  sub->add_flag("--quiet,-q", args->quiet, "No progress bar and no plot listing");
  add_distributed_flags(sub, args->dist);
  return {sub, [args] { return run_eval(*args); }};
}

}  // namespace atman::runner
