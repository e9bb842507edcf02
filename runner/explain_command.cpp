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
#include "atman/core/sweep_memory.h"
#include "atman/io/atomic_file.h"
#include "atman/methods/baselines.h"
#include "atman/render/html_report.h"
#include "atman/render/overlay.h"
#include "atman/render/terminal_report.h"
#include "atman/runtime/resource_limits.h"
#include "commands.h"
#include "distributed_flags.h"
#include "flag_checks.h"
#include "overlay_flags.h"
#include "progress.h"
#include "thread_report.h"
#include "unit_flags.h"

namespace atman::runner {
namespace {

struct ExplainArgs {
  std::string model;
  std::string image;
  std::string question;
  std::string prompt;
  std::string target;
  std::string json;
  std::string overlay;
  std::string html;
  OverlayFlags overlay_flags;  // --colormap, --overlay-alpha, --clip-percentile, --patch-borders
  UnitFlags unit_flags;        // --delimiter, --groups, --image-granularity, ... (unit_flags.h)
  double suppression_factor = ExplainOptions{}.suppression_factor;
  std::string conceptual_threshold = default_conceptual_threshold_text();
  std::string granularity = "token";
  std::string strategy = "auto";
  std::string precision = "fp32";
  std::string control = "multiplicative";
  std::string method = "atman";
  int64_t ig_steps = BaselineOptions{}.ig_steps;
  std::string ig_method = ig_rule_name(BaselineOptions{}.ig_rule);
  int64_t batch_size = 0;
  int64_t threads = 0;
  int64_t max_memory_mb = 0;
  int top_k = 10;
  bool quiet = false;
  bool verbose = false;
  bool has_question = false;  // given on the command line (possibly empty)
  bool has_prompt = false;
  std::string contrast;  // --contrast: the answer to explain the target against
  bool has_contrast = false;
  std::string target_granularity = "complete";
  std::string postprocess = "none";
  bool normalize = false;
  DistributedArgs dist;
};

ExplainOptions options_from(const ExplainArgs& a) {
  ExplainOptions o;
  check_real_flag("--suppression-factor", a.suppression_factor, 0.0, kMaxSuppressionFactor);
  check_int_flag("--batch-size", a.batch_size, 0, kMaxBatchSize);
  check_int_flag("--threads", a.threads, 0, kMaxThreads);
  check_int_flag("--max-memory", a.max_memory_mb, 0, kMaxMemoryMb);
  check_int_flag("--top", a.top_k, 0, 1000000);
  o.suppression_factor = a.suppression_factor;
  o.conceptual_threshold = parse_threshold_flag(a.conceptual_threshold);
  o.granularity = parse_granularity(a.granularity);
  apply_unit_flags(a.unit_flags, a.method, o);
  o.strategy = parse_strategy(a.strategy);
  o.precision = parse_precision(a.precision);  // CLI11 has checked the names
  o.control = parse_control(a.control);
  o.target_granularity = parse_target_granularity(a.target_granularity);
  o.postprocess = parse_postprocess(a.postprocess);
  o.normalize = a.normalize;
  o.max_memory_mb = a.max_memory_mb;
  o.batch_size = a.batch_size;
  o.threads = a.threads;
  return o;
}

// Refuses a model file that cannot be loaded within the budget (before loading it).
void require_model_load(const MemoryBudget& budget, const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return;  // missing or unreadable: Model::load says why
  budget.require(estimate_model_load_bytes(static_cast<int64_t>(size)), "loading the model " + path);
}

// Refuses, before any work on the input, a sweep that does not fit the budget
// at its batch size (the given one, else 1). The batch size itself is then
// picked by the explainer from the same budget (default_batch_size).
void check_sweep_memory(const MemoryBudget& budget, const Model& model, const ExplainInput& input,
                        const ExplainOptions& options, const ExplainArgs& a) {
  const int64_t image_positions = input.image_rgb.empty() ? 0 : model.config().image->patches();
  const Sequence seq = build_sequence(model, input.prompt, input.target, image_positions);
  const bool full_logits = options.strategy == PassStrategy::kFullLogits || !model.capabilities().target_only();
  SweepMemory sweep = estimate_sweep_memory(model.config(), seq.length(), seq.length(),
                                            static_cast<int64_t>(seq.target_ids.size()), full_logits,
                                            options.conceptual_threshold.has_value());
  if (!input.image_rgb.empty() && (!a.overlay.empty() || !a.html.empty())) {
    sweep.fixed_bytes += int64_t{24} * static_cast<int64_t>(input.image_rgb.total());  // overlay at the image's resolution
  }
  if (options.batch_size > 0) {
    budget.require(sweep.bytes(options.batch_size),
                   fmt::format("{}: the sweep ({} positions, --batch-size {})", model.path(), seq.length(),
                               options.batch_size));
  } else {
    budget.require(sweep.bytes(1), fmt::format("{}: the sweep ({} positions, batch size 1)", model.path(), seq.length()));
  }
}

int explain_as_rank(const ExplainArgs& a, const ExplainOptions& options, Method method,
                    const BaselineOptions& baseline, ProcessGroup* group, bool root);

// --contrast's combinations with other flags (docs/cli.md); its text is checked by the library.
void check_contrast_flags(const ExplainArgs& a) {
  if (!a.has_contrast) return;
  if (a.method != "atman") throw UsageError("--contrast is AtMan's: it takes no --method " + a.method);
  if (a.unit_flags.image_search == "coarse-to-fine") {
    throw UsageError("--contrast runs the full image search: --image-search coarse-to-fine does not apply");
  }
  if (a.target_granularity == "token") {
    throw UsageError("--contrast gives one map (the whole target against the whole contrast): --target-granularity "
                     "token does not apply");
  }
  if (a.dist.processes > 0 || a.dist.distributed || std::getenv("RANK") || std::getenv("WORLD_SIZE")) {
    throw UsageError("--contrast does not shard over ranks: run it in one process");  // torchrun's environment too
  }
}

int run_explain(const ExplainArgs& a) {
  if (a.has_question == a.has_prompt) {
    throw UsageError("give exactly one of --question and --prompt");
  }
  if (!a.overlay.empty() && a.image.empty()) throw UsageError("--overlay needs --image");
  overlay_options(a.overlay_flags);  // bad values fail before the sweep
  check_contrast_flags(a);
  if (a.control != "multiplicative" && a.method != "atman") {
    throw UsageError("--control " + a.control + " is how AtMan suppresses: it takes no --method " + a.method);
  }
  ExplainOptions options = options_from(a);
  const Method method = parse_method(a.method);  // CLI11 has checked the name
  if (a.dist.processes > 0) return run_processes(a.dist);
  // One rank of a sharded sweep (docs/distributed.md): torchrun's environment or --distributed.
  const std::optional<GroupConfig> group_config = resolve_group(a.dist);
  if (group_config && method != Method::kAtman) {
    throw UsageError("--method " + a.method + " does not shard over ranks: run it in one process");
  }
  options.threads = rank_threads(options.threads, group_config);
  const bool root = !group_config || group_config->rank == 0;  // alone writes outputs and prints
  check_int_flag("--ig-steps", a.ig_steps, 1, 100000);
  BaselineOptions baseline;
  baseline.ig_steps = a.ig_steps;
  try {
    baseline.ig_rule = parse_ig_rule(a.ig_method);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--ig-method: ") + e.what());
  }
  if (baseline.ig_rule == IgRule::kRiemannTrapezoid && a.ig_steps < 2) {
    throw UsageError("--ig-method riemann-trapezoid needs --ig-steps >= 2");
  }

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
  std::fprintf(stderr, "atman: passes: %s (%s), %s, %s control\n", strategy_name(resolved).c_str(), why.c_str(),
               options.precision == Precision::kBFloat16 ? "bfloat16" : "float32 (exact)",
               control_name(options.control).c_str());
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
  check_sweep_memory(budget, *model, input, options, a);

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

// --contrast and how the maps are shaped; returns --contrast (whether it was given is read after parsing).
CLI::Option* add_shaping_flags(CLI::App* sub, ExplainArgs& a) {
  CLI::Option* contrast = sub->add_option("--contrast", a.contrast,
                                   "Explain why the model says --target rather than this answer, e.g. \" blue\" "
                                   "(signed map over the prompt, docs/method.md#contrast)");
  sub->add_option("--target-granularity", a.target_granularity,
                  "Maps in the JSON's explanations: complete (one for the whole target) or token (one per target "
                  "token)")
      ->check(CLI::IsMember(target_granularity_names()))
      ->capture_default_str();
  sub->add_option("--postprocess", a.postprocess, "Applied to every relevance value: none, absolute or square")
      ->check(CLI::IsMember(postprocess_names()))
      ->capture_default_str();
  sub->add_flag("--normalize", a.normalize,
                "Rescale each map so that its minimum is 0 and its maximum 1 (after --postprocess; a constant map "
                "becomes all 0)");
  return contrast;
}

// Which method runs and how its passes are computed.
void add_method_flags(CLI::App* sub, ExplainArgs& a) {
  sub->add_option("--strategy", a.strategy,
                  "Passes: auto, full-logits, target-only or prefix-reuse (same numbers; auto: the fastest the "
                  "model supports)")
      ->check(CLI::IsMember(strategy_names()))
      ->capture_default_str();
  sub->add_option("--precision", a.precision,
                  "Number format of the passes: fp32 (exact) or bf16 (faster on CPUs with bfloat16 units, "
                  "small deviations)")
      ->check(CLI::IsMember(precision_names()))
      ->capture_default_str();
  sub->add_option("--control", a.control,
                  "How a factor f acts on the suppressed key's attention score: multiplicative ((H - min H) * f, "
                  "the paper's) or log-additive (H + log f, f = 0 removes the key; needs the model's *_additive "
                  "methods)")
      ->check(CLI::IsMember(control_names()))
      ->capture_default_str();
  sub->add_option("--method", a.method,
                  "atman, or a baseline: ixg (input x gradient), ig (integrated gradients), rollout, chefer, loo "
                  "(leave-one-out), attnlrp (AttnLRP, needs the model's forward_lrp)")
      ->check(CLI::IsMember(method_names()))
      ->capture_default_str();
  sub->add_option("--ig-steps", a.ig_steps, "Integrated Gradients interpolation points (--method ig)")
      ->capture_default_str();
  sub->add_option("--ig-method", a.ig_method,
                  "Integrated Gradients quadrature: riemann-middle, riemann-left, riemann-right, riemann-trapezoid, "
                  "gauss-legendre (--method ig)")
      ->capture_default_str();
}

}  // namespace

Command add_explain_command(CLI::App& app) {
  auto args = std::make_shared<ExplainArgs>();
  CLI::App* sub = app.add_subcommand("explain", "Explain which image patches and prompt tokens a target depends on");
  sub->add_option("--model", args->model, "Explainable model (.pt, docs/contract.md)")->required();
  sub->add_option("--image", args->image, "Image (any format OpenCV reads)");
  auto* q = sub->add_option("--question", args->question, "Question; fills the model's prompt_template");
  auto* p = sub->add_option("--prompt", args->prompt, "Prompt, verbatim (instead of --question)");
  q->excludes(p);
  sub->add_option("--target", args->target, "The answer to explain, e.g. \" red\"")->required();
  sub->add_option("--json", args->json, "Write the explanation as JSON here");
  sub->add_option("--overlay", args->overlay, "Write the heat-map overlay PNG here (needs --image)");
  sub->add_option("--html", args->html, "Write a self-contained HTML report here");
  add_overlay_flags(sub, args->overlay_flags);
  sub->add_option("--suppression-factor", args->suppression_factor, "Factor f of a suppressed position")
      ->capture_default_str();
  sub->add_option("--conceptual-threshold", args->conceptual_threshold,
                  "kappa of conceptual suppression in [-1, 1], or off for single-token")
      ->capture_default_str();
  sub->add_option("--granularity", args->granularity, "Text units: " + choice_text(granularity_names()))
      ->check(CLI::IsMember(granularity_names()))
      ->capture_default_str();
  add_text_unit_flags(sub, args->unit_flags);
  add_image_unit_flags(sub, args->unit_flags);
  CLI::Option* contrast = add_shaping_flags(sub, *args);
  add_method_flags(sub, *args);
  sub->add_option("--batch-size", args->batch_size, "Modifier rows (ig: interpolation points) per forward pass (0: automatic)")
      ->capture_default_str();
  sub->add_option("--threads", args->threads, "LibTorch threads (0: the CPUs this process may use)")->capture_default_str();
  sub->add_option("--max-memory", args->max_memory_mb,
                  "Memory budget of the whole process in MB; inputs that need more are refused before work "
                  "starts (0: this machine's available memory)")
      ->capture_default_str();
  sub->add_option("--top", args->top_k, "Positions listed in the terminal summary")->capture_default_str();
  sub->add_flag("--quiet,-q", args->quiet, "No progress bar and no terminal summary");
  sub->add_flag("--verbose,-v", args->verbose, "Describe the model and the sweep on stderr");
  add_distributed_flags(sub, args->dist);
  return {sub, [args, q, p, contrast, sub] {
            args->has_question = q->count() > 0;
            args->has_prompt = p->count() > 0;
            note_given_unit_flags(sub, args->unit_flags);
            args->has_contrast = contrast->count() > 0;
            return run_explain(*args);
          }};
}

}  // namespace atman::runner
