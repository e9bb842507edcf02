#include "eval/coarse_to_fine_report.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/core/explainer.h"
#include "atman/io/image.h"
#include "eval/rank_correlation.h"

namespace atman {
namespace {

double mean(const std::vector<double>& v) {
  double sum = 0.0;
  int64_t n = 0;
  for (double x : v) {
    if (std::isnan(x)) continue;
    sum += x;
    ++n;
  }
  return n > 0 ? sum / static_cast<double>(n) : NAN;
}

CoarseToFineItem compare_item(const Explainer& explainer, const EvalSet& set, const EvalItem& item,
                              const ExplainOptions& full, const ExplainOptions& fast) {
  const Model& model = explainer.model();
  const ExplainInput input{item_prompt(model.config(), item), item.target, read_image_rgb(item.image_path), {}};
  const Explanation exact = explainer.explain(input, full);
  const Explanation approx = explainer.explain(input, fast);
  CoarseToFineItem out;
  out.task = set.task;
  out.id = item.id;
  out.full_seconds = exact.stats.sweep_seconds;
  out.fast_seconds = approx.stats.sweep_seconds;
  out.full_passes = exact.stats.forward_passes;
  out.fast_passes = approx.stats.forward_passes;
  for (const ExplainedUnit& u : approx.units) out.refined += u.kind == PositionKind::kImage && u.refined;
  const std::vector<double> a = patch_map(approx), b = patch_map(exact);
  out.fidelity = patch_map_fidelity(a, b);
  const Sequence seq = build_sequence(model, input.prompt, input.target, model.config().image->patches());
  const GroundTruth gt = image_ground_truth(read_mask(item.mask_path), seq, 0.25, &*model.config().image);
  out.full = compute_metrics(b, gt.truth);
  out.fast = compute_metrics(a, gt.truth);
  return out;
}

void summarize(CoarseToFineReport& r) {
  double full_s = 0.0, fast_s = 0.0, full_p = 0.0, fast_p = 0.0;
  std::vector<double> rho, top, pf, pc, mf, mc, af, ac;
  for (const CoarseToFineItem& i : r.items) {
    full_s += i.full_seconds;
    fast_s += i.fast_seconds;
    full_p += static_cast<double>(i.full_passes);
    fast_p += static_cast<double>(i.fast_passes);
    rho.push_back(i.fidelity.spearman);
    top.push_back(i.fidelity.same_top ? 1.0 : 0.0);
    pf.push_back(i.full.pointing);
    pc.push_back(i.fast.pointing);
    mf.push_back(i.full.precision);
    mc.push_back(i.fast.precision);
    af.push_back(i.full.average_precision);
    ac.push_back(i.fast.average_precision);
  }
  r.speedup = fast_s > 0.0 ? full_s / fast_s : NAN;
  r.pass_ratio = fast_p > 0.0 ? full_p / fast_p : NAN;
  r.spearman = mean(rho);
  r.same_top = mean(top);
  r.pointing_full = mean(pf);
  r.pointing_fast = mean(pc);
  r.map_full = mean(mf);
  r.map_fast = mean(mc);
  r.ap_full = mean(af);
  r.ap_fast = mean(ac);
}

}  // namespace

std::vector<double> patch_map(const Explanation& e) {
  if (!e.image_grid) return {};
  const int64_t cols = e.image_grid->second;
  std::vector<double> map(static_cast<size_t>(e.image_grid->first * cols), 0.0);
  for (const ExplainedUnit& u : e.units) {
    if (u.kind != PositionKind::kImage) continue;
    if (u.tile_row0 >= 0 && u.refined) {  // a tile unit: each of its patches
      for (int64_t r = u.tile_row0; r <= u.tile_row1; ++r) {
        for (int64_t c = u.tile_col0; c <= u.tile_col1; ++c) map[r * cols + c] = u.relevance;
      }
    } else {
      map[u.patch_row * cols + u.patch_col] = u.relevance;
    }
  }
  return map;
}

PatchMapFidelity patch_map_fidelity(const std::vector<double>& approx, const std::vector<double>& exact) {
  if (approx.size() != exact.size() || approx.empty()) {
    throw std::invalid_argument(fmt::format("patch_map_fidelity: maps of {} and {} patches", approx.size(), exact.size()));
  }
  PatchMapFidelity f;
  f.spearman = spearman(approx, exact);  // NaN when a map is constant
  if (std::isnan(f.spearman)) f.spearman = approx == exact ? 1.0 : 0.0;
  f.same_top = std::max_element(approx.begin(), approx.end()) - approx.begin() ==
               std::max_element(exact.begin(), exact.end()) - exact.begin();
  return f;
}

CoarseToFineReport compare_coarse_to_fine(std::shared_ptr<const Model> model, const std::vector<EvalSet>& sets,
                                          const ExplainOptions& full, const ExplainOptions& fast, int64_t limit,
                                          const std::function<void(int64_t, int64_t)>& done) {
  if (fast.image_search != ImageSearch::kCoarseToFine) {
    throw std::invalid_argument("compare_coarse_to_fine: the fast options must ask for image search coarse-to-fine");
  }
  std::vector<std::pair<const EvalSet*, const EvalItem*>> todo;
  for (const EvalSet& set : sets) {
    int64_t taken = 0;
    for (const EvalItem& item : set.items) {
      if (item.kind != EvalItemKind::kImageMask || (limit > 0 && taken >= limit)) continue;
      todo.emplace_back(&set, &item);
      ++taken;
    }
  }
  if (todo.empty()) throw std::invalid_argument("coarse-to-fine comparison: the sets hold no image items");
  Explainer explainer(std::move(model));
  CoarseToFineReport report;
  report.fast_options = fast;
  compare_item(explainer, *todo[0].first, *todo[0].second, full, fast);  // warm-up, not recorded
  for (size_t k = 0; k < todo.size(); ++k) {
    report.items.push_back(compare_item(explainer, *todo[k].first, *todo[k].second, full, fast));
    if (done) done(static_cast<int64_t>(k + 1), static_cast<int64_t>(todo.size()));
  }
  summarize(report);
  return report;
}

std::string format_coarse_to_fine(const CoarseToFineReport& r) {
  const int64_t tiles = r.fast_options.image_granularity > 0 ? r.fast_options.image_granularity : 3;
  std::string out = fmt::format(
      "Coarse to fine ({} x {} tiles, refine fraction {}) against the full patch sweep, {} image items\n\n", tiles,
      tiles, r.fast_options.refine_fraction, r.items.size());
  out += "| | full patch sweep | coarse to fine |\n|---|---|---|\n";
  double full_passes = 0.0, fast_passes = 0.0;
  for (const CoarseToFineItem& i : r.items) {
    full_passes += static_cast<double>(i.full_passes);
    fast_passes += static_cast<double>(i.fast_passes);
  }
  const double n = std::max<double>(1.0, static_cast<double>(r.items.size()));
  out += fmt::format("| passes per item | {:.1f} | {:.1f} |\n", full_passes / n, fast_passes / n);
  out += fmt::format("| speed-up (sweep seconds) | 1 | {:.2f}x |\n", r.speedup);
  out += fmt::format("| pointing game | {:.3f} | {:.3f} |\n", r.pointing_full, r.pointing_fast);
  out += fmt::format("| mAP (paper precision) | {:.3f} | {:.3f} |\n", r.map_full, r.map_fast);
  out += fmt::format("| ranking AP (mean) | {:.3f} | {:.3f} |\n", r.ap_full, r.ap_fast);
  out += fmt::format("| Spearman vs full (mean) | 1 | {:.3f} |\n", r.spearman);
  out += fmt::format("| same top patch | 1 | {:.3f} |\n", r.same_top);
  return out;
}

std::string coarse_to_fine_json(const CoarseToFineReport& r) {
  using json = nlohmann::ordered_json;
  json doc = {{"image_granularity", r.fast_options.image_granularity},
              {"refine_fraction", r.fast_options.refine_fraction},
              {"items_count", r.items.size()},
              {"speedup", r.speedup},
              {"pass_ratio", r.pass_ratio},
              {"spearman", r.spearman},
              {"same_top", r.same_top},
              {"pointing", {{"full", r.pointing_full}, {"coarse_to_fine", r.pointing_fast}}},
              {"map", {{"full", r.map_full}, {"coarse_to_fine", r.map_fast}}},
              {"average_precision", {{"full", r.ap_full}, {"coarse_to_fine", r.ap_fast}}}};
  json items = json::array();
  for (const CoarseToFineItem& i : r.items) {
    items.push_back({{"task", i.task},           {"id", i.id},
                     {"full_seconds", i.full_seconds}, {"fast_seconds", i.fast_seconds},
                     {"full_passes", i.full_passes},   {"fast_passes", i.fast_passes},
                     {"refined", i.refined},           {"spearman", i.fidelity.spearman},
                     {"same_top", i.fidelity.same_top}, {"pointing_full", i.full.pointing},
                     {"pointing_fast", i.fast.pointing}, {"precision_full", i.full.precision},
                     {"precision_fast", i.fast.precision}});
  }
  doc["items"] = std::move(items);
  return doc.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace atman
