#pragma once
// Score shaping (docs/json.md, "Score shaping"): what ExplainOptions'
// postprocess and normalize do to an explanation's maps once R is computed,
// and which maps target_granularity presents.
//
//   shape_map({-2, 0, 1}, Postprocess::kSquare, true) == {1, 0, 0.25}

#include <cstdint>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"

namespace atman {

/// One map shaped: each value postprocessed (none, |v| or v^2), then, with
/// `normalize`, rescaled as (v - min) / (max - min) over the map's finite
/// values, so that the smallest becomes 0 and the largest 1. A map whose
/// finite values are all equal (e.g. all 0) becomes all 0, never NaN.
/// Non-finite values are left as they are.
std::vector<double> shape_map(std::vector<double> values, Postprocess postprocess, bool normalize);

/// Shapes every map of `e` by e.params, each on its own: the complete map
/// (units' relevance), each target token's map (per_target column t) and each
/// contrast token's (per_contrast column c). The raw values go to the units'
/// raw_* fields and `e.shaped` is set. Nothing changes with postprocess none
/// and normalize off. Throws std::invalid_argument when `e` is shaped already.
void shape_explanation(Explanation& e);

/// The last step of every method's explanation (AtMan, contrast, baselines):
/// records the original image's size (image_rgb empty: none) and shapes the
/// maps (shape_explanation).
void finish_explanation(Explanation& e, const cv::Mat& image_rgb);

/// One map the outputs present (docs/json.md, "explanations"): the target
/// tokens it explains (indices into Explanation::targets) and one score per
/// unit, in unit order.
struct PresentedMap {
  std::vector<int64_t> target_tokens;
  std::vector<double> scores;
};
/// e.params.target_granularity's maps: kComplete one map, the units'
/// relevance, for all target tokens; kToken one per target token, its
/// per_target column (a contrastive explanation has only the complete map).
std::vector<PresentedMap> presented_maps(const Explanation& e);

}  // namespace atman
