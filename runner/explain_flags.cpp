#include "explain_flags.h"

#include <cstdlib>

#include <CLI/CLI.hpp>

#include "atman/core/names.h"
#include "commands.h"
#include "flag_checks.h"
#include "input_flags.h"

namespace atman::runner {
namespace {

// --contrast and how the maps are shaped; returns --contrast (whether it was given is read after parsing).
CLI::Option* add_shaping_flags(CLI::App* sub, ExplainArgs& a) {
  CLI::Option* contrast = sub->add_option("--contrast", a.contrast,
                                          "Explain why the model says --target rather than this answer, e.g. \" blue\" "
                                          "(signed map over the prompt, docs/method.md#contrast-the-target-rather-than-another-answer)");
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
                  "Number format of the passes: fp32 (exact), bf16 (faster on CPUs with bfloat16 units; the top "
                  "units recomputed in float32) or auto (bf16 where the CPU has it and the model is wide enough)")
      ->check(CLI::IsMember(precision_names()))
      ->capture_default_str();
  sub->add_option("--recompute-top", a.recompute_top,
                  "With bf16: recompute in float32 the N most relevant units and every unit within "
                  "--recompute-margin of them (0: none)")
      ->capture_default_str();
  sub->add_option("--recompute-margin", a.recompute_margin,
                  "With bf16: also recompute units whose relevance is within this fraction of the largest |R| "
                  "below the N-th's")
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

}  // namespace

ExplainFlagHandles add_explain_flags(CLI::App* sub, ExplainArgs& a) {
  ExplainFlagHandles handles;
  add_model_flag(sub, a.model);
  add_image_flag(sub, a.image);
  const PromptFlags prompt_flags = add_prompt_flags(sub, a.question, a.prompt);
  handles.question = prompt_flags.question;
  handles.prompt = prompt_flags.prompt;
  add_target_flag(sub, a.target, true);
  sub->add_option("--json", a.json, "Write the explanation as JSON here");
  sub->add_option("--overlay", a.overlay, "Write the heat-map overlay PNG here (needs --image)");
  sub->add_option("--html", a.html, "Write a self-contained HTML report here");
  add_overlay_flags(sub, a.overlay_flags);
  sub->add_option("--suppression-factor", a.suppression_factor, "Factor f of a suppressed position")
      ->capture_default_str();
  sub->add_option("--conceptual-threshold", a.conceptual_threshold,
                  "kappa of conceptual suppression in [-1, 1], or off for single-token")
      ->capture_default_str();
  sub->add_option("--granularity", a.granularity, "Text units: " + choice_text(granularity_names()))
      ->check(CLI::IsMember(granularity_names()))
      ->capture_default_str();
  add_text_unit_flags(sub, a.unit_flags);
  add_image_unit_flags(sub, a.unit_flags);
  handles.contrast = add_shaping_flags(sub, a);
  add_method_flags(sub, a);
  sub->add_option("--batch-size", a.batch_size, "Modifier rows (ig: interpolation points) per forward pass (0: automatic)")
      ->capture_default_str();
  add_threads_flag(sub, a.threads);
  sub->add_option("--max-memory", a.max_memory_mb,
                  "Memory budget of the whole process in MB; inputs that need more are refused before work "
                  "starts (0: this machine's available memory)")
      ->capture_default_str();
  sub->add_option("--top", a.top_k, "Positions listed in the terminal summary")->capture_default_str();
  sub->add_flag("--quiet,-q", a.quiet, "No progress bar and no terminal summary");
  sub->add_flag("--verbose,-v", a.verbose, "Describe the model and the sweep on stderr");
  add_distributed_flags(sub, a.dist);
  return handles;
}

void note_given_explain_flags(CLI::App* sub, const ExplainFlagHandles& handles, ExplainArgs& a) {
  a.has_question = handles.question->count() > 0;
  a.has_prompt = handles.prompt->count() > 0;
  a.has_contrast = handles.contrast->count() > 0;
  note_given_unit_flags(sub, a.unit_flags);
}

void check_explain_flags(const ExplainArgs& a) {
  if (a.has_question == a.has_prompt) throw UsageError("give exactly one of --question and --prompt");
  if (!a.overlay.empty() && a.image.empty()) throw UsageError("--overlay needs --image");
  overlay_options(a.overlay_flags);  // bad values fail before the sweep
  check_contrast_flags(a);
  if (a.control != "multiplicative" && a.method != "atman") {
    throw UsageError("--control " + a.control + " is how AtMan suppresses: it takes no --method " + a.method);
  }
}

ExplainOptions explain_options_from(const ExplainArgs& a) {
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
  check_int_flag("--recompute-top", a.recompute_top, 0, 1000000);
  check_real_flag("--recompute-margin", a.recompute_margin, 0.0, 1.0);
  o.recompute_top = a.recompute_top;
  o.recompute_margin = a.recompute_margin;
  o.control = parse_control(a.control);
  o.target_granularity = parse_target_granularity(a.target_granularity);
  o.postprocess = parse_postprocess(a.postprocess);
  o.normalize = a.normalize;
  o.max_memory_mb = a.max_memory_mb;
  o.batch_size = a.batch_size;
  o.threads = a.threads;
  return o;
}

BaselineOptions baseline_options_from(const ExplainArgs& a) {
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
  return baseline;
}

}  // namespace atman::runner
