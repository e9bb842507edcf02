#pragma once
// `atman bench`'s coarse-to-fine row (docs/speed.md, "Coarse to fine"): the
// full patch sweep and the coarse-to-fine search (core/coarse_to_fine.h) of
// one input in one process, their times side by side and how far the fast
// map is from the full one.
//
// Usage:
//   CoarseToFineBench b = bench_coarse_to_fine(explainer, input, full_options, fast_options, 3);

#include <cstdint>

#include "atman/core/explainer.h"

namespace atman {

struct CoarseToFineBench {
  int64_t tiles = 0;             // first level's tiles per side
  double refine_fraction = 0.0;
  double full_seconds = 0.0;     // sweep seconds, best of the repeats
  double fast_seconds = 0.0;
  double speedup = 0.0;          // full_seconds / fast_seconds
  int64_t full_passes = 0, fast_passes = 0;
  int64_t patches = 0, refined = 0;  // patches, and those coarse-to-fine computed alone
  double spearman = 1.0;         // of the patch maps
  bool same_top = true;          // same top patch
};

/// Explains `input` with `full` (patches, full search) and `fast` (its
/// image_search must be kCoarseToFine), `repeat` times each, interleaved,
/// after one untimed warm-up of each. Throws std::invalid_argument without an
/// image or when `fast` is no coarse-to-fine search.
CoarseToFineBench bench_coarse_to_fine(const Explainer& explainer, const ExplainInput& input,
                                       const ExplainOptions& full, const ExplainOptions& fast, int64_t repeat);

}  // namespace atman
