#pragma once
// The overlay's colour maps: perceptually uniform sequential maps for
// relevance that is only positive, a diverging one (centred at 0) for signed
// relevance.
//
// Usage:
//   const ColourMap map = parse_colour_map("inferno");   // throws on an unknown name
//   const cv::Vec3b rgb = colour_of(0.8, map);            // 0 .. 1 along the map

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace atman {

enum class ColourMap {
  kAuto,       // viridis, or diverging for signed maps (heat_map.h, heat_scale)
  kViridis,    // perceptually uniform, lightness rises with relevance, colour-blind safe (OpenCV's)
  kInferno,    // perceptually uniform, black .. red .. pale yellow (OpenCV's)
  kTurbo,      // improved rainbow (OpenCV's): vivid but not uniform in lightness
  kDiverging,  // blue (most negative) .. white (0) .. red (most positive): matplotlib's RdBu_r
};

/// "auto", "viridis", "inferno", "turbo", "diverging" in the enum's order (the --colormap values).
const std::vector<std::string>& colour_map_names();
/// The map of a name above; std::invalid_argument "unknown colour map 'NAME'
/// (expected one of auto, viridis, ...)" otherwise.
ColourMap parse_colour_map(const std::string& name);
std::string colour_map_name(ColourMap map);

/// The RGB colour at `position` in [0, 1] along `map` (clamped; NaN counts as
/// 0). On kDiverging, 0.5 is the centre (relevance 0). kAuto reads as kViridis.
cv::Vec3b colour_of(double position, ColourMap map);

/// colour_of for every element of an 8-bit single-channel image: 8-bit RGB.
cv::Mat apply_colour_map(const cv::Mat& levels, ColourMap map);

}  // namespace atman
