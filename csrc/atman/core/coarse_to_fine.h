#pragma once
// Coarse-to-fine image search (docs/method.md, "Coarse to fine"), an
// approximate fast mode: explain N x N tiles of the patch grid, then refine,
// level by level (tiles per side doubled, at most the grid's side) down to
// patches, only the tiles whose relevance is at least F x the top tile's of
// their level. F = 0 refines every tile: the full patch sweep.

#include "atman/core/explainer.h"
#include "atman/core/explanation.h"
#include "atman/core/options.h"

namespace atman {

/// The explanation of `input` with options.image_search kCoarseToFine:
/// text units as options say (computed once, with the first level), and
/// every image patch as its own unit: refined patches with their own
/// relevance, the others with the relevance of the finest tile that
/// contains them (ExplainedUnit::refined false, tile_* that tile). Every
/// level shares the prepared input and the pass runner. A tile is refined
/// when refine_fraction is 0, when it is its level's top tile, or when its
/// relevance R >= refine_fraction x R_top. Stats: every level's passes,
/// clean passes included. Throws std::invalid_argument without an image,
/// with custom groups, or for refine_fraction outside [0, 1].
///
///   ExplainOptions o;  o.image_search = ImageSearch::kCoarseToFine;  o.refine_fraction = 0.5;
///   Explanation e = explain_coarse_to_fine(explainer, input, o);
Explanation explain_coarse_to_fine(const Explainer& explainer, const ExplainInput& input,
                                   const ExplainOptions& options, const ProgressCallback& progress = {});

/// The refinement rule alone: which of `relevance` (one value per tile of a
/// level) are refined.
std::vector<bool> tiles_to_refine(const std::vector<double>& relevance, double refine_fraction);

}  // namespace atman
