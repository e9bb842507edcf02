#include "atman/core/coarse_to_fine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "atman/core/image_tiles.h"
#include "atman/core/shaping.h"
#include "atman/core/suppression.h"
#include "atman/core/sweep.h"
#include "atman/core/unit_labels.h"
#include "atman/model/target_pass.h"
#include "atman/runtime/memory_meter.h"

namespace atman {
namespace {

using Clock = std::chrono::steady_clock;
using Values = std::vector<double>;  // R[unit, t] in target order

void check_coarse_to_fine(const ExplainInput& input, const ExplainOptions& options) {
  if (!std::isfinite(options.refine_fraction) || options.refine_fraction < 0.0 || options.refine_fraction > 1.0) {
    throw std::invalid_argument(fmt::format("refine fraction must be in [0, 1], got {}", options.refine_fraction));
  }
  if (input.image_rgb.empty()) throw std::invalid_argument("image search coarse-to-fine needs an image");
  if (!options.groups.empty()) {
    throw std::invalid_argument("image search coarse-to-fine explains the granularities' units, not custom groups");
  }
}

// The levels' sweeps on one runner: the relevance of each level's modifier rows.
struct LevelSweeps {
  PassRunner& runner;
  int64_t batch;
  const ProgressCallback& progress;
  int64_t passes = 0;
  at::Tensor clean_ce;

  std::vector<Values> run(const at::Tensor& modifiers) {
    const int64_t before = passes;
    ProgressCallback level_progress;
    if (progress) {
      level_progress = [&](const SweepProgress& p) {
        progress({before + p.passes_done, before + p.passes_total, p.elapsed_seconds});
      };
    }
    const SweepOutput out = run_sweep_units(runner, modifiers, runner.plan(modifiers, batch), level_progress);
    passes += modifiers.size(0) + 1;  // the clean pass of every level included
    clean_ce = out.clean_ce;
    const at::Tensor r = gather_relevance(out.results, modifiers.size(0), out.clean_ce).contiguous();
    std::vector<Values> rows(static_cast<size_t>(r.size(0)));
    for (int64_t i = 0; i < r.size(0); ++i) rows[i] = Values(r[i].data_ptr<double>(), r[i].data_ptr<double>() + r.size(1));
    return rows;
  }
};

double total(const Values& v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return sum;
}

// One level: its tiles and their relevance.
struct Level {
  std::vector<ImageTile> tiles;
  std::vector<Values> values;
};

// The next level's tiles inside the refined ones of `level` (tiles per side
// doubled, at most the grid's): computed in one sweep, except a tile that
// equals its parent, which keeps the parent's values.
Level refine(const Level& level, const Sequence& seq, int64_t n_rows, int64_t n_cols, const at::Tensor& similarity,
             const ExplainOptions& options, LevelSweeps& sweeps) {
  std::vector<double> sums;
  for (const Values& v : level.values) sums.push_back(total(v));
  const std::vector<bool> refined = tiles_to_refine(sums, options.refine_fraction);
  Level next;
  std::vector<std::vector<int64_t>> groups;
  std::vector<size_t> computed;  // indices into next.tiles of the swept tiles
  for (const ImageTile& child : image_tiles(seq.grid_rows, seq.grid_cols, n_rows, n_cols)) {
    for (size_t k = 0; k < level.tiles.size(); ++k) {
      const ImageTile& parent = level.tiles[k];
      if (!refined[k] || !parent.contains(child)) continue;
      next.tiles.push_back(child);
      const bool same = parent.row0 == child.row0 && parent.row1 == child.row1 && parent.col0 == child.col0 &&
                        parent.col1 == child.col1;
      next.values.push_back(same ? level.values[k] : Values{});
      if (!same) {
        computed.push_back(next.tiles.size() - 1);
        groups.push_back(tile_positions(seq, child));
      }
    }
  }
  if (groups.empty()) return next;
  const at::Tensor modifiers = modifier_rows(similarity, seq.length(), groups, options.suppression_factor,
                                             options.conceptual_threshold);
  const std::vector<Values> values = sweeps.run(modifiers);
  for (size_t i = 0; i < computed.size(); ++i) next.values[computed[i]] = values[i];
  return next;
}

// Per patch (row-major) the finest computed tile holding it and its values.
struct PatchMap {
  std::vector<ImageTile> holder;
  std::vector<Values> values;
  void record(const Level& level, int64_t grid_cols) {
    for (size_t k = 0; k < level.tiles.size(); ++k) {
      const ImageTile& t = level.tiles[k];
      for (int64_t r = t.row0; r <= t.row1; ++r) {
        for (int64_t c = t.col0; c <= t.col1; ++c) {
          holder[r * grid_cols + c] = t;
          values[r * grid_cols + c] = level.values[k];
        }
      }
    }
  }
};

// The explanation's units: the first level's text units, and every patch
// (where the image stands) with its own or its tile's values.
Explanation assemble(const Explainer& explainer, const PreparedInput& prepared, const std::vector<Values>& first,
                     const PatchMap& patches, const at::Tensor& clean_ce, const ExplainOptions& options) {
  const Sequence& seq = prepared.sequence;
  std::vector<std::vector<int64_t>> groups;
  std::vector<Values> values;
  std::vector<UnitLabel> labels;
  bool image_done = false;
  for (size_t g = 0; g < prepared.groups.size(); ++g) {
    if (prepared.labels[g].tile_row0 < 0) {
      groups.push_back(prepared.groups[g]);
      values.push_back(first[g]);
      labels.push_back(prepared.labels[g]);
      continue;
    }
    if (image_done) continue;
    image_done = true;
    for (int64_t p = 0; p < seq.image_positions; ++p) {
      const ImageTile& t = patches.holder[p];
      UnitLabel label;
      if (t.row0 != t.row1 || t.col0 != t.col1) {
        label = {"", {}, t.row0, t.row1, t.col0, t.col1, false};
      }
      groups.push_back({seq.image_begin + p});
      values.push_back(patches.values[p]);
      labels.push_back(label);
    }
  }
  const int64_t t = static_cast<int64_t>(seq.target_ids.size());
  at::Tensor table = at::empty({static_cast<int64_t>(values.size()), t}, at::kDouble);
  for (size_t i = 0; i < values.size(); ++i) {
    for (int64_t k = 0; k < t; ++k) table[i][k] = values[i][k];
  }
  std::vector<double> ce;
  for (int64_t k = 0; k < t; ++k) ce.push_back(clean_ce[k].item<double>());
  Explanation e = assemble_explanation(explainer.model().config(), "atman", seq, groups, table, ce, options);
  label_units(labels, prepared.chosen_granularity, e);
  return e;
}

}  // namespace

std::vector<bool> tiles_to_refine(const std::vector<double>& relevance, double refine_fraction) {
  std::vector<bool> out(relevance.size(), refine_fraction == 0.0);
  if (relevance.empty() || refine_fraction == 0.0) return out;
  const size_t top = static_cast<size_t>(std::max_element(relevance.begin(), relevance.end()) - relevance.begin());
  for (size_t k = 0; k < relevance.size(); ++k) {
    out[k] = k == top || relevance[k] >= refine_fraction * relevance[top];
  }
  return out;
}

Explanation explain_coarse_to_fine(const Explainer& explainer, const ExplainInput& input,
                                   const ExplainOptions& options, const ProgressCallback& progress) {
  check_coarse_to_fine(input, options);
  const int64_t threads = set_threads(options.threads);
  c10::InferenceMode guard;
  const PreparedInput prepared = explainer.prepare(input, options);
  const Sequence& seq = prepared.sequence;
  const auto compile_start = Clock::now();
  std::shared_ptr<const CompiledModel> compiled = explainer.compiled(options.precision);
  const double compile_seconds = std::chrono::duration<double>(Clock::now() - compile_start).count();
  const auto sweep_start = Clock::now();
  SweepInput sweep{prepared.embeddings, prediction_rows(seq), seq.target_ids};
  auto runner = make_pass_runner(explainer.model(), std::move(sweep), options.strategy, std::move(compiled));
  const int64_t batch =
      options.batch_size > 0 ? options.batch_size : default_batch_size(explainer.model(), prepared, options);
  at::Tensor similarity;
  if (options.conceptual_threshold) similarity = cosine_similarity_matrix(prepared.embeddings[0]);

  LevelSweeps sweeps{*runner, batch, progress, 0, {}};
  const std::vector<Values> first = sweeps.run(prepared.modifiers);
  Level level;
  for (size_t g = 0; g < prepared.groups.size(); ++g) {
    const UnitLabel& l = prepared.labels[g];
    if (l.tile_row0 < 0) continue;
    level.tiles.push_back({l.tile_row0, l.tile_row1, l.tile_col0, l.tile_col1});
    level.values.push_back(first[g]);
  }
  PatchMap patches{std::vector<ImageTile>(seq.image_positions), std::vector<Values>(seq.image_positions)};
  patches.record(level, seq.grid_cols);
  int64_t n = options.image_granularity > 0 ? options.image_granularity : kDefaultCoarseTiles;
  int64_t n_rows = n, n_cols = n;
  while (n_rows < seq.grid_rows || n_cols < seq.grid_cols) {
    n_rows = std::min(2 * n_rows, seq.grid_rows);
    n_cols = std::min(2 * n_cols, seq.grid_cols);
    level = refine(level, seq, n_rows, n_cols, similarity, options, sweeps);
    patches.record(level, seq.grid_cols);
  }
  Explanation e = assemble(explainer, prepared, first, patches, sweeps.clean_ce, options);
  e.stats.forward_passes = sweeps.passes;
  e.stats.positions_computed = runner->positions_computed();
  e.stats.threads = threads;
  e.stats.batch_size = batch;
  e.stats.compile_seconds = compile_seconds;
  e.stats.sweep_seconds = std::chrono::duration<double>(Clock::now() - sweep_start).count();
  e.stats.peak_memory_mb = resident_peak_mb();
  finish_explanation(e, input.image_rgb);
  return e;
}

}  // namespace atman
