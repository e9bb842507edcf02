#include "bench/coarse_to_fine_bench.h"

#include <algorithm>
#include <stdexcept>

#include "atman/core/image_tiles.h"
#include "eval/coarse_to_fine_report.h"  // patch_map, patch_map_fidelity

namespace atman {

CoarseToFineBench bench_coarse_to_fine(const Explainer& explainer, const ExplainInput& input,
                                       const ExplainOptions& full, const ExplainOptions& fast, int64_t repeat) {
  if (input.image_rgb.empty()) throw std::invalid_argument("the coarse-to-fine benchmark needs an image");
  if (fast.image_search != ImageSearch::kCoarseToFine || full.image_search != ImageSearch::kFull) {
    throw std::invalid_argument("bench_coarse_to_fine: expected a full and a coarse-to-fine search");
  }
  explainer.explain(input, full);  // warm-up: TorchScript's first-call optimisation is not timed
  explainer.explain(input, fast);
  CoarseToFineBench b;
  b.tiles = fast.image_granularity > 0 ? fast.image_granularity : kDefaultCoarseTiles;
  b.refine_fraction = fast.refine_fraction;
  b.full_seconds = b.fast_seconds = 1e300;
  for (int64_t k = 0; k < std::max<int64_t>(1, repeat); ++k) {
    const Explanation exact = explainer.explain(input, full);
    const Explanation approx = explainer.explain(input, fast);
    b.full_seconds = std::min(b.full_seconds, exact.stats.sweep_seconds);
    b.fast_seconds = std::min(b.fast_seconds, approx.stats.sweep_seconds);
    if (k > 0) continue;
    b.full_passes = exact.stats.forward_passes;
    b.fast_passes = approx.stats.forward_passes;
    const std::vector<double> a = patch_map(approx), e = patch_map(exact);
    const PatchMapFidelity f = patch_map_fidelity(a, e);
    b.spearman = f.spearman;
    b.same_top = f.same_top;
    b.patches = static_cast<int64_t>(a.size());
    for (const ExplainedUnit& u : approx.units) b.refined += u.kind == PositionKind::kImage && u.refined;
  }
  b.speedup = b.fast_seconds > 0.0 ? b.full_seconds / b.fast_seconds : 0.0;
  return b;
}

}  // namespace atman
