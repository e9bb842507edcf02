#include "atman/core/explainer.h"

#include <malloc.h>

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

#include "atman/core/pass_runner.h"
#include "atman/core/shard.h"
#include "atman/core/suppression.h"
#include "atman/core/sweep_memory.h"
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
  if (o.threads < 0) throw std::invalid_argument(fmt::format("threads must be >= 0, got {}", o.threads));
  if (o.max_memory_mb < 0) {
    throw std::invalid_argument(fmt::format("max memory must be >= 0 MB, got {}", o.max_memory_mb));
  }
}

}  // namespace

WorkResult run_work_unit(PassRunner& runner, const at::Tensor& modifiers, const WorkUnit& unit) {
  const std::vector<int64_t> rows = unit.row_indices();
  TORCH_CHECK(!rows.empty(), "run_work_unit: empty unit");
  for (int64_t r : rows) {
    TORCH_CHECK(r >= 0 && r < modifiers.size(0), "run_work_unit: row ", r, " outside the ", modifiers.size(0),
                " modifier rows");
  }
  const at::Tensor batch = unit.rows.empty() ? modifiers.slice(0, unit.begin, unit.end)
                                             : modifiers.index_select(0, at::tensor(rows, at::kLong));
  return {unit, runner.target_cross_entropy(batch)};
}

void keep_freed_memory_for_reuse() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, kHeapThresholdBytes);
    mallopt(M_TRIM_THRESHOLD, kHeapThresholdBytes);
  });
}

SweepOutput run_sweep_units(PassRunner& runner, const at::Tensor& modifiers, const std::vector<WorkUnit>& units,
                            const ProgressCallback& progress) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  keep_freed_memory_for_reuse();
  malloc_trim(0);  // what earlier work left free goes back first: the sweep's growth is its own
  const int64_t start_bytes = resident_bytes();
  SweepOutput out;
  out.clean_ce = runner.target_cross_entropy(at::ones({1, modifiers.size(1)}, at::kFloat))[0];
  out.results.reserve(units.size());
  int64_t anchor = -1;  // resident after the first unit since the start or the last hand-back
  int64_t done = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const WorkUnit& unit : units) {
    out.results.push_back(run_work_unit(runner, modifiers, unit));
    const int64_t now = resident_bytes();
    if (anchor < 0) {
      anchor = now;
    } else if (now > anchor + std::max<int64_t>(8 * kMiB, (anchor - start_bytes) / 10)) {
      malloc_trim(0);  // the heap grew past one unit's working set: fragmentation, hand it back
      anchor = -1;
    }
    done += unit.size();
    if (progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      progress({done, modifiers.size(0), elapsed});
    }
  }
  malloc_trim(0);
  return out;
}

at::Tensor gather_relevance(const std::vector<WorkResult>& results, int64_t rows, const at::Tensor& clean_ce) {
  TORCH_CHECK(clean_ce.dim() == 1, "gather_relevance: expected clean CE [T], got ", clean_ce.sizes());
  at::Tensor ce = at::empty({rows, clean_ce.size(0)}, at::kDouble);
  std::vector<char> seen(rows, 0);
  for (const WorkResult& r : results) {
    const std::vector<int64_t> indices = r.unit.row_indices();
    const int64_t n = static_cast<int64_t>(indices.size());
    TORCH_CHECK(r.cross_entropy.dim() == 2 && r.cross_entropy.size(0) == n, "gather_relevance: a result of ",
                r.cross_entropy.size(0), " rows for a unit of ", n);
    for (int64_t i : indices) {
      TORCH_CHECK(i >= 0 && i < rows, "gather_relevance: row ", i, " does not fit ", rows, " rows");
      TORCH_CHECK(!seen[i], "gather_relevance: row ", i, " computed twice");
      seen[i] = 1;
    }
    if (r.unit.rows.empty()) {
      ce.slice(0, r.unit.begin, r.unit.end).copy_(r.cross_entropy);
    } else {
      ce.index_copy_(0, at::tensor(indices, at::kLong), r.cross_entropy.to(at::kDouble));
    }
  }
  TORCH_CHECK(std::all_of(seen.begin(), seen.end(), [](char c) { return c != 0; }),
              "gather_relevance: some rows were not computed");
  return ce - clean_ce.to(at::kDouble).unsqueeze(0);
}

int64_t default_batch_size(const Model& model, const PreparedInput& prepared, const ExplainOptions& options) {
  const Sequence& seq = prepared.sequence;
  const PassStrategy strategy = resolve_strategy(model, options.strategy);
  const ModelConfig& c = model.config();
  SweepMemory need = estimate_sweep_memory(c, seq.length(), prepared.modifiers.size(0),
                                           static_cast<int64_t>(seq.target_ids.size()),
                                           strategy == PassStrategy::kFullLogits, options.conceptual_threshold.has_value());
  // The compiled copy of the model (parameters are shared; bfloat16 holds a
  // cast copy) and, for prefix reuse, the cache: keys and values of every layer.
  if (options.precision == Precision::kBFloat16) {
    std::error_code ec;
    const auto file_bytes = std::filesystem::file_size(model.path(), ec);
    if (!ec) need.fixed_bytes += static_cast<int64_t>(file_bytes / 2);  // float32 weights -> bfloat16
  }
  if (strategy == PassStrategy::kPrefixReuse) need.fixed_bytes += prefix_cache_bytes(c, seq.length());
  const MemoryBudget budget(options.max_memory_mb);
  const int64_t batch = budget.largest_batch(need, kMaxAutoBatchSize);
  if (batch < 1) budget.require(need.bytes(1), fmt::format("the sweep ({} positions, batch size 1)", seq.length()));
  return std::max<int64_t>(1, batch);
}

std::shared_ptr<const CompiledModel> Explainer::compiled(Precision precision) const {
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
  const Model& model = *model_;
  at::NoGradGuard no_grad;  // plain tensors (not inference tensors): callers may use them with autograd
  at::Tensor image_embeddings;
  int64_t image_positions = 0;
  if (!input.image_rgb.empty()) {
    if (!model.has_image()) {
      throw std::invalid_argument(fmt::format("model {} is text-only (config image is null): it takes no image",
                                              model.config().name));
    }
    image_embeddings = model.embed_image(image_to_tensor(input.image_rgb, *model.config().image));
    image_positions = image_embeddings.size(1);
  }
  PreparedInput prepared;
  prepared.sequence = build_sequence(model, input.prompt, input.target, image_positions);
  const std::vector<int64_t> ids = prepared.sequence.text_ids();
  at::Tensor text_embeddings =
      model.embed_text(at::tensor(ids, at::kLong).view({1, static_cast<int64_t>(ids.size())}));
  prepared.embeddings = sequence_embeddings(prepared.sequence, text_embeddings, image_embeddings);
  prepared.embeddings = prepared.embeddings.contiguous();
  if (!at::isfinite(prepared.embeddings).all().item<bool>()) {
    throw std::runtime_error(fmt::format("{}: model {} produced NaN or Inf embeddings", model.path(),
                                         model.config().name));
  }
  prepared.groups = explained_groups(prepared.sequence, options.granularity, model.tokenizer());
  const int64_t s = prepared.sequence.length();
  at::Tensor similarity;
  if (options.conceptual_threshold) similarity = cosine_similarity_matrix(prepared.embeddings[0]);
  prepared.modifiers = modifier_rows(similarity, s, prepared.groups, options.suppression_factor,
                                     options.conceptual_threshold);
  return prepared;
}

Explanation Explainer::explain(const ExplainInput& input, const ExplainOptions& options,
                               const ProgressCallback& progress, ProcessGroup* group) const {
  check_options(options);
  const int64_t threads = set_threads(options.threads, group ? group->config().local_world_size : 1);
  c10::InferenceMode guard;
  const auto start = std::chrono::steady_clock::now();
  PreparedInput prepared = prepare(input, options);
  const Sequence& seq = prepared.sequence;
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());

  // Fixed costs apart from the passes (docs/speed.md#fixed-costs): compiling
  // (freezing, warming up) happens once per Explainer and precision.
  const auto compile_start = std::chrono::steady_clock::now();
  std::shared_ptr<const CompiledModel> compiled_model = compiled(options.precision);
  const double compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();
  const auto sweep_start = std::chrono::steady_clock::now();

  SweepInput sweep{prepared.embeddings, prediction_rows(seq), seq.target_ids};
  auto runner = make_pass_runner(*model_, std::move(sweep), options.strategy, std::move(compiled_model));

  const int64_t rows = prepared.modifiers.size(0);
  int64_t batch = options.batch_size > 0 ? options.batch_size : default_batch_size(*model_, prepared, options);
  if (group && options.batch_size <= 0) batch = group->min_over_ranks("explain/batch", batch);
  const std::vector<WorkUnit> units = runner->plan(prepared.modifiers, batch);
  if (group) {
    // This rank's share; rank 0 then gathers every share's cross-entropies.
    const std::vector<int64_t> owner =
        deal_units(unit_costs(prepared.modifiers, units, runner->name() == "prefix-reuse"), group->world_size());
    std::vector<WorkUnit> mine;
    int64_t mine_rows = 0;
    for (size_t u = 0; u < units.size(); ++u) {
      if (owner[u] != group->rank()) continue;
      mine.push_back(units[u]);
      mine_rows += units[u].size();
    }
    ProgressCallback share_progress;
    if (progress) {
      share_progress = [&](const SweepProgress& p) { progress({p.passes_done, mine_rows, p.elapsed_seconds}); };
    }
    SweepOutput out = run_sweep_units(*runner, prepared.modifiers, mine, share_progress);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<at::Tensor> parts;
    for (const WorkResult& r : out.results) parts.push_back(r.cross_entropy.to(at::kDouble));
    const at::Tensor local = parts.empty() ? at::zeros({0, t}, at::kDouble) : at::cat(parts, 0);
    const std::vector<std::string> figures =
        group->exchange("explain/stats", fmt::format("{} {}", seconds, runner->positions_computed()));
    const auto gather_start = std::chrono::steady_clock::now();
    const std::vector<at::Tensor> all = group->gather_rows("explain/ce", local);
    const double gather_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - gather_start).count();

    Explanation e;
    e.stats.world_size = group->world_size();
    e.stats.gather_seconds = gather_seconds;
    for (const std::string& f : figures) {
      const auto space = f.find(' ');
      e.stats.rank_seconds.push_back(std::stod(f.substr(0, space)));
      e.stats.positions_computed += std::stoll(f.substr(space + 1));  // every rank's clean pass included
    }
    e.stats.forward_passes = rows + 1;
    e.stats.threads = threads;
    e.stats.batch_size = batch;
    if (!group->is_root()) {
      e.model = model_->config().name;
      e.params = options;
      e.stats.sweep_seconds = seconds;
      e.stats.peak_memory_mb = resident_peak_mb();
      return e;
    }
    std::vector<WorkResult> results;
    std::vector<int64_t> offset(group->world_size(), 0);
    for (size_t u = 0; u < units.size(); ++u) {
      const int64_t r = owner[u];
      const int64_t n = units[u].size();
      TORCH_CHECK(offset[r] + n <= all[r].size(0), "Explainer::explain: rank ", r, " sent ", all[r].size(0),
                  " rows of cross-entropies, fewer than its units hold");
      results.push_back({units[u], all[r].slice(0, offset[r], offset[r] + n)});
      offset[r] += n;
    }
    const at::Tensor relevance = gather_relevance(results, rows, out.clean_ce);
    std::vector<double> ce;
    for (int64_t i = 0; i < t; ++i) ce.push_back(out.clean_ce[i].item<double>());
    Explanation whole =
        assemble_explanation(model_->config(), "atman", seq, prepared.groups, relevance, ce, options);
    whole.stats = e.stats;
    whole.stats.compile_seconds = compile_seconds;
    whole.stats.sweep_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
    whole.stats.peak_memory_mb = resident_peak_mb();
    return whole;
  }
  const SweepOutput out = run_sweep_units(*runner, prepared.modifiers, units, progress);
  const at::Tensor& clean_ce = out.clean_ce;
  const at::Tensor relevance = gather_relevance(out.results, rows, clean_ce);

  std::vector<double> ce;
  for (int64_t i = 0; i < t; ++i) ce.push_back(clean_ce[i].item<double>());
  Explanation e = assemble_explanation(model_->config(), "atman", seq, prepared.groups, relevance, ce, options);
  e.stats.forward_passes = rows + 1;
  e.stats.positions_computed = runner->positions_computed();
  e.stats.compile_seconds = compile_seconds;
  e.stats.sweep_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
  e.stats.peak_memory_mb = resident_peak_mb();
  e.stats.threads = threads;
  e.stats.batch_size = batch;
  return e;
}

}  // namespace atman
