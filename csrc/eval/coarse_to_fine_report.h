#pragma once
// What coarse-to-fine image search (core/coarse_to_fine.h) costs in fidelity
// and gains in speed against the full patch sweep, item by item on the image
// sets of `atman eval` (docs/evaluation.md, "Coarse to fine"): both maps of
// every item, their Spearman correlation and top patch, and each map's
// pointing game and precision against the mask.
//
// Usage:
//   CoarseToFineReport r = compare_coarse_to_fine(model, sets, full_options, c2f_options, 50);
//   std::string table = format_coarse_to_fine(r);

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "atman/core/explanation.h"
#include "atman/core/options.h"
#include "atman/model/model.h"
#include "eval/eval_data.h"
#include "eval/metrics.h"

namespace atman {

/// The image units of an explanation as a patch map, row-major (a unit
/// covering several patches gives each of them its relevance).
std::vector<double> patch_map(const Explanation& explanation);

/// How a patch map differs from the exact one: Spearman's rho (1 when both
/// are constant and equal) and whether the top patches (argmax, first on
/// ties) agree. Throws std::invalid_argument when the sizes differ.
struct PatchMapFidelity {
  double spearman = 1.0;
  bool same_top = true;
};
PatchMapFidelity patch_map_fidelity(const std::vector<double>& approx, const std::vector<double>& exact);

/// One image item, both ways.
struct CoarseToFineItem {
  std::string task, id;
  double full_seconds = 0.0, fast_seconds = 0.0;  // sweep seconds of each
  int64_t full_passes = 0, fast_passes = 0;
  int64_t refined = 0;  // patches coarse-to-fine computed alone
  PatchMapFidelity fidelity;
  ItemMetrics full, fast;  // against the mask (docs/evaluation.md)
};

/// The items and their means.
struct CoarseToFineReport {
  ExplainOptions fast_options;
  std::vector<CoarseToFineItem> items;
  double speedup = 0.0;       // sum of full sweep seconds / sum of coarse-to-fine ones
  double pass_ratio = 0.0;    // full passes / coarse-to-fine passes, summed over items
  double spearman = 0.0;      // mean rho
  double same_top = 0.0;      // fraction of items
  double pointing_full = 0.0, pointing_fast = 0.0;
  double map_full = 0.0, map_fast = 0.0;  // mean paper precision (the paper's mAP)
  double ap_full = 0.0, ap_fast = 0.0;    // mean ranking average precision
};

/// Explains the first `limit` image items of each set (0: all; text sets are
/// skipped) with `full` (patch units, full search) and `fast` (coarse to
/// fine), and compares them. `done(k, n)` after each item. Throws
/// std::invalid_argument when no set has image items or `fast` is no
/// coarse-to-fine search.
CoarseToFineReport compare_coarse_to_fine(std::shared_ptr<const Model> model, const std::vector<EvalSet>& sets,
                                          const ExplainOptions& full, const ExplainOptions& fast, int64_t limit,
                                          const std::function<void(int64_t, int64_t)>& done = {});

/// A markdown table of the means and the settings.
std::string format_coarse_to_fine(const CoarseToFineReport& report);
/// The report as JSON (settings, means, items).
std::string coarse_to_fine_json(const CoarseToFineReport& report);

}  // namespace atman
