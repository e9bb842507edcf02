// `atman explain`: one explanation of a target given an image and a prompt.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "atman/atman.h"
#include "atman/base/fingerprint.h"
#include "atman/core/pass_runner.h"
#include "atman/core/precision_choice.h"
#include "atman/core/sweep_memory.h"
#include "atman/io/atomic_file.h"
#include "atman/methods/baselines.h"
#include "atman/render/html_report.h"
#include "atman/render/overlay.h"
#include "atman/render/terminal_report.h"
#include "atman/runtime/resource_limits.h"
#include "commands.h"
#include "distributed_flags.h"
#include "explain_flags.h"
#include "flag_checks.h"
#include "overlay_flags.h"
#include "progress.h"
#include "sweep_budget.h"
#include "thread_report.h"
#include "unit_flags.h"

namespace atman::runner {
namespace {

int explain_as_rank(const ExplainArgs& a, const ExplainOptions& options, Method method,
                    const BaselineOptions& baseline, ProcessGroup* group, bool root);

int run_explain(const ExplainArgs& a) {
  check_explain_flags(a);
  ExplainOptions options = explain_options_from(a);
  const Method method = parse_method(a.method);  // CLI11 has checked the name
  if (a.dist.processes > 0) return run_processes(a.dist);
  // One rank of a sharded sweep (docs/distributed.md): torchrun's environment or --distributed.
  const std::optional<GroupConfig> group_config = resolve_group(a.dist);
  if (group_config && method != Method::kAtman) {
    throw UsageError("--method " + a.method + " does not shard over ranks: run it in one process");
  }
  options.threads = rank_threads(options.threads, group_config);
  const bool root = !group_config || group_config->rank == 0;  // alone writes outputs and prints
  const BaselineOptions baseline = baseline_options_from(a);

  // Fail early on output paths, before the (long) sweep.
  if (root && !a.json.empty()) check_output_path(a.json, "json");
  if (root && !a.overlay.empty()) check_output_path(a.overlay, "overlay");
  if (root && !a.html.empty()) check_output_path(a.html, "html");
  std::unique_ptr<ProcessGroup> group;
  if (group_config) group = join_group(*group_config);
  return as_rank(group.get(), [&] { return explain_as_rank(a, options, method, baseline, group.get(), root); });
}

// The input of --image, --question/--prompt and --target, the image decoded
// within the memory budget.
ExplainInput read_input(const ExplainArgs& a, const Model& model, const MemoryBudget& budget) {
  const ModelConfig& config = model.config();
  ExplainInput input;
  if (!a.image.empty()) {
    if (!model.has_image()) {
      throw std::invalid_argument(fmt::format("{}: model {} is text-only (config image is null): it takes no --image {}",
                                              a.model, config.name, a.image));
    }
    const std::string bytes = read_image_file(a.image);
    budget.require(estimate_decode_bytes(bytes, a.image), "decoding the image " + a.image);
    input.image_rgb = decode_image_rgb(bytes, a.image);
  }
  input.prompt = a.has_prompt ? a.prompt : prompt_from_question(config, a.question);
  input.target = a.target;
  if (a.has_contrast) input.contrast = a.contrast;
  return input;
}

// Every rank must explain the same thing with the same model: a hash of both, checked at start-up.
void check_same_on_every_rank(ProcessGroup& group, const ExplainArgs& a, const ExplainInput& input,
                              const ExplainOptions& options) {
  std::string what = fmt::format("{}|{}|{}|{}|{}|{}|{}|{}|{}|{}", input.prompt, input.target,
                                 options.suppression_factor,
                                 options.conceptual_threshold ? *options.conceptual_threshold : 2.0, a.granularity,
                                 a.strategy, a.precision, options.batch_size, a.method, a.ig_steps);
  what += "|" + a.control;
  what += fmt::format("|{}|{}|{}|{}|{}", a.unit_flags.delimiter, options.target_units, options.groups.size(),
                      options.image_granularity, a.unit_flags.token_overlap);
  if (!input.image_rgb.empty()) {
    what.append(reinterpret_cast<const char*>(input.image_rgb.data), input.image_rgb.total() * input.image_rgb.elemSize());
  }
  group.check_same("the model and the input", fingerprint_hex(what, file_fingerprint_hex(a.model)));
}

// --verbose before the sweep: the model, the pass strategy and why, threads.
void report_plan(const ExplainArgs& a, const Model& model, const ExplainOptions& options, int64_t local_ranks) {
  const ModelConfig& config = model.config();
  std::fprintf(stderr, "atman: model %s (%s): %lld layers, width %lld, vocab %lld, max_positions %lld, %s\n",
               config.name.c_str(), a.model.c_str(), static_cast<long long>(config.num_layers),
               static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocab_size),
               static_cast<long long>(config.max_positions), config.image ? "image-text" : "text-only");
  const PassStrategy resolved = resolve_strategy(model, options.strategy, options.control);
  std::string why = options.strategy != PassStrategy::kAuto ? "as asked" : "the fastest this model supports";
  if (options.strategy == PassStrategy::kAuto && resolved != PassStrategy::kPrefixReuse) {
    why = "no prefix reuse: the model lacks prefix_cache/hidden_states_from_cache/lm_head, so every pass is a "
          "full recompute";
    if (!model.capabilities().target_only()) why += ", with [B, S, V] logits (no hidden_states/lm_head)";
  }
  const PrecisionChoice precision = choose_precision(options.precision, config);
  const std::string number_format =
      precision.precision == Precision::kBFloat16
          ? fmt::format("bfloat16 ({}; the top {} units and those within {} of them recomputed in float32)",
                        precision.why, options.recompute_top, options.recompute_margin)
          : fmt::format("float32, exact ({})", precision.why);
  std::fprintf(stderr, "atman: passes: %s (%s), %s, %s control\n", strategy_name(resolved).c_str(), why.c_str(),
               number_format.c_str(), control_name(options.control).c_str());
  print_thread_choice(options.threads, local_ranks);
}

// Rank 0's (or the only process's) outputs: --verbose figures, the files, the terminal summary.
void write_outputs(const ExplainArgs& a, const Explanation& e, const ExplainInput& input) {
  if (a.verbose) {
    std::fprintf(stderr, "atman: %lld passes, %lld positions computed, batch %lld, %lld threads, %.2fs, peak %.0f MB\n",
                 static_cast<long long>(e.stats.forward_passes), static_cast<long long>(e.stats.positions_computed),
                 static_cast<long long>(e.stats.batch_size), static_cast<long long>(e.stats.threads),
                 e.stats.sweep_seconds, e.stats.peak_memory_mb);
    std::fprintf(stderr, "atman: one-time work: load %.2fs, compile %.2fs\n", e.stats.load_seconds,
                 e.stats.compile_seconds);
  }
  if (!a.json.empty()) write_file_atomically(a.json, explanation_to_json(e), "json");
  // A contrastive map answers "the target rather than the contrast": the caption says both.
  const std::string answer = a.has_contrast ? a.target + " rather than" + a.contrast : a.target;
  const std::string caption = overlay_caption(a.has_prompt ? a.prompt : a.question, answer);
  const OverlayOptions overlay = overlay_options(a.overlay_flags);
  if (!a.overlay.empty()) write_overlay_png(e, input.image_rgb, caption, a.overlay, overlay);
  if (!a.html.empty()) {
    HtmlReportOptions html_options;
    html_options.caption = caption;
    html_options.overlay = overlay;
    write_html_report(e, input.image_rgb.empty() ? nullptr : &input.image_rgb, a.html, html_options);
  }
  if (!a.quiet) {
    std::fputs(format_terminal_summary(e, isatty(STDOUT_FILENO) == 1, a.top_k).c_str(), stdout);
    if (!a.json.empty()) std::printf("json: %s\n", a.json.c_str());
    if (!a.overlay.empty()) std::printf("overlay: %s\n", a.overlay.c_str());
    if (!a.html.empty()) std::printf("html: %s\n", a.html.c_str());
  }
  std::fflush(stdout);
}

int explain_as_rank(const ExplainArgs& a, const ExplainOptions& options, Method method,
                    const BaselineOptions& baseline, ProcessGroup* group, bool root) {
  // Memory: each step is checked against the budget before it runs (resource_limits.h).
  const MemoryBudget budget(a.max_memory_mb);
  require_model_load(budget, a.model);
  const auto load_start = std::chrono::steady_clock::now();
  std::shared_ptr<const Model> model = Model::load(a.model);
  const double load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  check_method_supported(*model, method);  // rollout/chefer need forward_with_attentions, attnlrp forward_lrp
  if (method == Method::kAtman) check_control_supported(*model, options.control);  // log-additive: *_additive
  const ExplainInput input = read_input(a, *model, budget);
  if (group) check_same_on_every_rank(*group, a, input, options);
  if (a.verbose && root) report_plan(a, *model, options, group ? group->config().local_world_size : 1);
  check_sweep_memory(budget, *model, input, options, !a.overlay.empty() || !a.html.empty());

  Explainer explainer(model);
  ProgressBar bar(!a.quiet && root);
  const ProgressCallback progress = [&](const SweepProgress& p) {
    bar.update(p.passes_done, p.passes_total, p.elapsed_seconds);
  };
  Explanation e = group ? explainer.explain(input, options, progress, group)
                        : explain_with_method(explainer, method, input, options, baseline, progress);
  e.stats.load_seconds = load_seconds;
  bar.finish();
  if (root) write_outputs(a, e, input);
  if (group) group->finish();
  return 0;
}

}  // namespace

Command add_explain_command(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  CLI::App* sub = app.add_subcommand("explain", "Explain which image patches and prompt tokens a target depends on");
  const ExplainFlagHandles handles = add_explain_flags(sub, *args);
  return {sub, [args, handles, sub] {
            note_given_explain_flags(sub, handles, *args);
            return run_explain(*args);
          }};
}

}  // namespace atman::runner
