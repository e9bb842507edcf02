#pragma once
// The interactive part of the HTML report: one "map" per (explanation,
// target choice) -- the sum over the target tokens and, with several targets,
// each token's R[i, t] -- with its overlay image, colour bar, per-patch and
// per-token values, written as a JSON blob that the page's script reads to
// switch maps and to show values on hover. Internal to html_report.cpp.

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"
#include "atman/render/overlay.h"

namespace atman {

/// One map the page can show.
struct HtmlMap {
  const Explanation* explanation = nullptr;
  std::optional<int> target_index;  // nullopt: R (summed over targets)
  std::string label;                // what the switch shows, e.g. "AtMan: R[“ red”]"
};

/// The maps of `explanations`, in order: per explanation the sum, then each
/// target token when there are several (at most `max_targets` of them); a
/// contrastive explanation has its one signed map.
std::vector<HtmlMap> html_maps(const std::vector<Explanation>& explanations, int max_targets = 16);

/// The <section> with the map switch, the image stage (an overlay per map,
/// no strips: the caption and the colour bar are HTML beside it) and the
/// data blob; `text_units` are the units shown as prompt tokens (their order
/// is the spans' data-t). Empty maps give an empty string.
std::string html_maps_section(const std::vector<HtmlMap>& maps, const cv::Mat* original_rgb,
                              const std::vector<const ExplainedUnit*>& text_units, const std::string& caption,
                              const OverlayOptions& overlay);

/// The page's script: map switch, hover values, and the #selftest run.
const char* html_maps_script();

}  // namespace atman
