#include "atman/core/explainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <tuple>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "atman/core/coarse_to_fine.h"
#include "atman/core/contrast.h"
#include "atman/core/float32_recompute.h"
#include "atman/core/pass_runner.h"
#include "atman/core/precision_choice.h"
#include "atman/core/shaping.h"
#include "atman/core/shard.h"
#include "atman/core/suppression.h"
#include "atman/core/sweep.h"
#include "atman/core/sweep_memory.h"
#include "atman/core/unit_labels.h"
#include "atman/core/units.h"
#include "atman/io/image.h"
#include "atman/model/target_pass.h"
#include "atman/runtime/distributed.h"
#include "atman/runtime/memory_meter.h"
#include "atman/runtime/resource_limits.h"

namespace atman {
namespace {

void check_options(const ExplainOptions& o) {
  if (!std::isfinite(o.suppression_factor) || o.suppression_factor < 0.0) {
    throw std::invalid_argument(
        fmt::format("suppression factor must be a finite number >= 0, got {}", o.suppression_factor));
  }
  if (o.conceptual_threshold &&
      (!std::isfinite(*o.conceptual_threshold) || *o.conceptual_threshold < -1.0 || *o.conceptual_threshold > 1.0)) {
    throw std::invalid_argument(
        fmt::format("conceptual threshold must be in [-1, 1] or off, got {}", *o.conceptual_threshold));
  }
  if (o.batch_size < 0) throw std::invalid_argument(fmt::format("batch size must be >= 0, got {}", o.batch_size));
  if (o.recompute_top < 0) throw std::invalid_argument(fmt::format("recompute top must be >= 0, got {}", o.recompute_top));
  if (!std::isfinite(o.recompute_margin) || o.recompute_margin < 0.0) {
    throw std::invalid_argument(fmt::format("recompute margin must be a finite number >= 0, got {}", o.recompute_margin));
  }
  if (o.threads < 0) throw std::invalid_argument(fmt::format("threads must be >= 0, got {}", o.threads));
  if (o.max_memory_mb < 0) {
    throw std::invalid_argument(fmt::format("max memory must be >= 0 MB, got {}", o.max_memory_mb));
  }
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One sweep as planned: the input, its work units and the figures known
// before the passes, for assembling the Explanation afterwards.
struct PlannedSweep {
  const ModelConfig& config;
  const PreparedInput& prepared;
  const ExplainOptions& options;
  std::vector<WorkUnit> units;
  int64_t threads = 0;
  int64_t batch = 0;
  double compile_seconds = 0.0;
  Clock::time_point start, sweep_start;
  int64_t rows() const { return prepared.modifiers.size(0); }
};

// The rest of `stats` once the passes are done (the clean pass counts).
void finish_stats(const PlannedSweep& plan, SweepStats* stats) {
  stats->forward_passes = plan.rows() + 1;
  stats->threads = plan.threads;
  stats->batch_size = plan.batch;
  stats->compile_seconds = plan.compile_seconds;
  stats->sweep_seconds = seconds_since(plan.sweep_start);
  stats->peak_memory_mb = resident_peak_mb();
}

// The Explanation of a finished sweep: relevance from every unit's
// cross-entropies against the clean ones, and `stats` finished.
Explanation assemble_sweep(const PlannedSweep& plan, const at::Tensor& relevance, const at::Tensor& clean_ce,
                           SweepStats stats) {
  std::vector<double> ce;
  for (int64_t i = 0; i < clean_ce.size(0); ++i) ce.push_back(clean_ce[i].item<double>());
  Explanation e = assemble_explanation(plan.config, "atman", plan.prepared.sequence, plan.prepared.groups, relevance,
                                       ce, plan.options);
  label_units(plan.prepared.labels, plan.prepared.chosen_granularity, e);  // core/unit_labels.h
  e.stats = std::move(stats);
  finish_stats(plan, &e.stats);
  return e;
}

// This rank's share of a sharded sweep (docs/distributed.md): units dealt by
// cost, its own run here, and rank 0 gathers every share's cross-entropies
// and assembles the Explanation; other ranks return only their stats.
Explanation explain_share(PassRunner& runner, const PlannedSweep& plan, ProcessGroup& group,
                          const ProgressCallback& progress) {
  const at::Tensor& modifiers = plan.prepared.modifiers;
  const std::vector<int64_t> owner =
      deal_units(unit_costs(modifiers, plan.units, runner.name() == "prefix-reuse"), group.world_size());
  std::vector<WorkUnit> mine;
  int64_t mine_rows = 0;
  for (size_t u = 0; u < plan.units.size(); ++u) {
    if (owner[u] != group.rank()) continue;
    mine.push_back(plan.units[u]);
    mine_rows += plan.units[u].size();
  }
  ProgressCallback share_progress;
  if (progress) share_progress = [&](const SweepProgress& p) { progress({p.passes_done, mine_rows, p.elapsed_seconds}); };
  const SweepOutput out = run_sweep_units(runner, modifiers, mine, share_progress);
  const double seconds = seconds_since(plan.start);
  std::vector<at::Tensor> parts;
  for (const WorkResult& r : out.results) parts.push_back(r.cross_entropy.to(at::kDouble));
  const int64_t t = static_cast<int64_t>(plan.prepared.sequence.target_ids.size());
  const at::Tensor local = parts.empty() ? at::zeros({0, t}, at::kDouble) : at::cat(parts, 0);
  const std::vector<std::string> figures =
      group.exchange("explain/stats", fmt::format("{} {}", seconds, runner.positions_computed()));
  const auto gather_start = Clock::now();
  const std::vector<at::Tensor> all = group.gather_rows("explain/ce", local);

  SweepStats stats;
  stats.world_size = group.world_size();
  stats.gather_seconds = seconds_since(gather_start);
  for (const std::string& f : figures) {
    const auto space = f.find(' ');
    stats.rank_seconds.push_back(std::stod(f.substr(0, space)));
    stats.positions_computed += std::stoll(f.substr(space + 1));  // every rank's clean pass included
  }
  if (!group.is_root()) {
    Explanation e;
    e.model = plan.config.name;
    e.params = plan.options;
    e.stats = std::move(stats);
    finish_stats(plan, &e.stats);
    return e;
  }
  std::vector<WorkResult> results;
  std::vector<int64_t> offset(group.world_size(), 0);
  for (size_t u = 0; u < plan.units.size(); ++u) {
    const int64_t r = owner[u];
    const int64_t n = plan.units[u].size();
    TORCH_CHECK(offset[r] + n <= all[r].size(0), "Explainer::explain: rank ", r, " sent ", all[r].size(0),
                " rows of cross-entropies, fewer than its units hold");
    results.push_back({plan.units[u], all[r].slice(0, offset[r], offset[r] + n)});
    offset[r] += n;
  }
  return assemble_sweep(plan, gather_relevance(results, plan.rows(), out.clean_ce), out.clean_ce, std::move(stats));
}

// One process's sweep: every unit in the chosen precision; with a reduced one,
// the units a reader looks at again in float32 (core/float32_recompute.h).
Explanation explain_alone(const Explainer& explainer, PassRunner& runner, const PlannedSweep& plan,
                          const ProgressCallback& progress) {
  const PreparedInput& prepared = plan.prepared;
  const ExplainOptions& options = plan.options;
  const SweepOutput out = run_sweep_units(runner, prepared.modifiers, plan.units, progress);
  SweepStats stats;
  stats.positions_computed = runner.positions_computed();
  at::Tensor relevance = gather_relevance(out.results, plan.rows(), out.clean_ce);
  if (options.precision == Precision::kFloat32 || options.recompute_top <= 0) {
    return assemble_sweep(plan, relevance, out.clean_ce, std::move(stats));
  }
  const std::vector<int64_t> rows = rows_to_recompute(relevance, options.recompute_top, options.recompute_margin);
  SweepInput sweep{prepared.embeddings, prediction_rows(prepared.sequence), prepared.sequence.target_ids,
                   options.control};
  auto exact_runner = make_pass_runner(explainer.model(), std::move(sweep), options.strategy,
                                       explainer.compiled(Precision::kFloat32));
  const int64_t n = plan.rows(), total = n + static_cast<int64_t>(rows.size());
  const ProgressCallback recompute_progress = [&](const SweepProgress& p) {
    if (progress) progress({n + p.passes_done, total, p.elapsed_seconds});
  };
  const Float32Values exact = recompute_in_float32(*exact_runner, prepared.modifiers, rows, plan.batch,
                                                   recompute_progress);
  for (size_t k = 0; k < rows.size(); ++k) relevance[rows[k]] = exact.relevance[static_cast<int64_t>(k)];
  stats.positions_computed += exact_runner->positions_computed();
  // The targets' clean cross-entropies are the float32 ones: exact, as the recomputed units are.
  Explanation e = assemble_sweep(plan, relevance, exact.clean_ce, std::move(stats));
  for (int64_t row : rows) e.units[row].recomputed = true;
  e.stats.forward_passes += exact.passes;
  return e;
}

}  // namespace

std::shared_ptr<const CompiledModel> Explainer::compiled(Precision asked) const {
  const Precision precision = choose_precision(asked, model_->config()).precision;
  std::lock_guard<std::mutex> lock(compiled_mutex_);
  auto& slot = compiled_[precision == Precision::kBFloat16 ? 1 : 0];
  if (!slot) slot = CompiledModel::compile(*model_, precision);
  return slot;
}

Explainer::Explainer(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  TORCH_CHECK(model_ != nullptr, "Explainer: model is null");
}

PreparedInput Explainer::prepare(const ExplainInput& input, const ExplainOptions& options) const {
  check_options(options);
  return prepare(input.prompt, input.target, embed_image(input.image_rgb), options, input.image_rgb.size());
}

at::Tensor Explainer::embed_image(const cv::Mat& image_rgb) const {
  if (image_rgb.empty()) return {};
  const Model& model = *model_;
  if (!model.has_image()) {
    throw std::invalid_argument(fmt::format("model {} is text-only (config image is null): it takes no image",
                                            model.config().name));
  }
  at::NoGradGuard no_grad;
  return model.embed_image(image_to_tensor(image_rgb, *model.config().image));
}

PreparedInput Explainer::prepare(const std::string& prompt, const std::string& target,
                                 const at::Tensor& image_embeddings, const ExplainOptions& options,
                                 cv::Size original_image) const {
  check_options(options);
  const Model& model = *model_;
  at::NoGradGuard no_grad;  // plain tensors (not inference tensors): callers may use them with autograd
  const int64_t image_positions = image_embeddings.defined() ? image_embeddings.size(1) : 0;
  PreparedInput prepared;
  prepared.sequence = build_sequence(model, prompt, target, image_positions);
  const std::vector<int64_t> ids = prepared.sequence.text_ids();
  at::Tensor text_embeddings =
      model.embed_text(at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())}));
  prepared.embeddings = sequence_embeddings(prepared.sequence, text_embeddings, image_embeddings);
  prepared.embeddings = prepared.embeddings.contiguous();
  if (!at::isfinite(prepared.embeddings).all().item<bool>()) {
    throw std::runtime_error(fmt::format("{}: model {} produced NaN or Inf embeddings", model.path(),
                                         model.config().name));
  }
  // The units (core/units.h): granularity, tiles or custom groups.
  ExplainedUnits units = explained_units(prepared.sequence, options, model.tokenizer(), original_image.width,
                                         original_image.height, model.config().image);
  prepared.groups = std::move(units.groups);
  prepared.weights = std::move(units.weights);
  prepared.labels = std::move(units.labels);
  prepared.chosen_granularity = units.chosen_granularity;
  const int64_t s = prepared.sequence.length();
  at::Tensor similarity;
  if (options.conceptual_threshold) similarity = cosine_similarity_matrix(prepared.embeddings[0]);
  prepared.modifiers = modifier_rows(similarity, s, prepared.groups, options.suppression_factor,
                                     options.conceptual_threshold, prepared.weights);
  return prepared;
}

Explanation Explainer::explain(const ExplainInput& input, const ExplainOptions& asked,
                               const ProgressCallback& progress, ProcessGroup* group) const {
  check_options(asked);
  ExplainOptions options = asked;
  options.precision = choose_precision(asked.precision, model_->config()).precision;  // auto: per model and CPU
  if (input.contrast) {
    if (group) throw std::invalid_argument("a contrastive explanation does not shard over ranks: run it in one process");
    return explain_contrast(*this, input, options, progress);  // core/contrast.h
  }
  if (options.image_search == ImageSearch::kCoarseToFine) {
    if (group) throw std::invalid_argument("image search coarse-to-fine does not shard over ranks: run it in one process");
    return explain_coarse_to_fine(*this, input, options, progress);  // core/coarse_to_fine.h
  }
  const int64_t threads = set_threads(options.threads, group ? group->config().local_world_size : 1);
  c10::InferenceMode guard;
  const auto start = Clock::now();
  const PreparedInput prepared = prepare(input, options);

  // Fixed costs apart from the passes (docs/speed.md#fixed-costs): the pass
  // methods (and for bfloat16 the cast copy) are made once per Explainer and precision.
  const auto compile_start = Clock::now();
  std::shared_ptr<const CompiledModel> compiled_model = compiled(options.precision);
  const double compile_seconds = seconds_since(compile_start);
  const auto sweep_start = Clock::now();

  SweepInput sweep{prepared.embeddings, prediction_rows(prepared.sequence), prepared.sequence.target_ids,
                   options.control};
  auto runner = make_pass_runner(*model_, std::move(sweep), options.strategy, std::move(compiled_model));
  int64_t batch = options.batch_size > 0 ? options.batch_size : default_batch_size(*model_, prepared, options);
  if (group && options.batch_size <= 0) batch = group->min_over_ranks("explain/batch", batch);
  const PlannedSweep plan{model_->config(), prepared, options, runner->plan(prepared.modifiers, batch),
                          threads, batch, compile_seconds, start, sweep_start};
  Explanation e = group ? explain_share(*runner, plan, *group, progress) : explain_alone(*this, *runner, plan, progress);
  finish_explanation(e, input.image_rgb);  // core/shaping.h
  return e;
}

}  // namespace atman
