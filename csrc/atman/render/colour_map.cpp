#include "atman/render/colour_map.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace atman {
namespace {

// matplotlib's RdBu_r at 256 levels (generated; see the file's header).
constexpr unsigned char kDivergingTable[256][3] = {
#include "atman/render/diverging_colour_table.inc"
};

// OpenCV's built-in maps work in BGR; the table becomes a user colour map.
cv::Mat diverging_lut_bgr() {
  cv::Mat lut(256, 1, CV_8UC3);
  for (int level = 0; level < 256; ++level) {
    lut.at<cv::Vec3b>(level, 0) = {kDivergingTable[level][2], kDivergingTable[level][1], kDivergingTable[level][0]};
  }
  return lut;
}

}  // namespace

const std::vector<std::string>& colour_map_names() {
  static const std::vector<std::string> names = {"auto", "viridis", "inferno", "turbo", "diverging"};
  return names;
}

ColourMap parse_colour_map(const std::string& name) {
  const auto& names = colour_map_names();
  const auto found = std::find(names.begin(), names.end(), name);
  if (found == names.end()) {
    throw std::invalid_argument(
        fmt::format("unknown colour map '{}' (expected one of {})", name, fmt::join(names, ", ")));
  }
  return static_cast<ColourMap>(found - names.begin());
}

std::string colour_map_name(ColourMap map) { return colour_map_names().at(static_cast<size_t>(map)); }

cv::Mat apply_colour_map(const cv::Mat& levels, ColourMap map) {
  CV_Assert(levels.type() == CV_8UC1);
  cv::Mat bgr, rgb;
  switch (map) {
    case ColourMap::kAuto:
    case ColourMap::kViridis: cv::applyColorMap(levels, bgr, cv::COLORMAP_VIRIDIS); break;
    case ColourMap::kInferno: cv::applyColorMap(levels, bgr, cv::COLORMAP_INFERNO); break;
    case ColourMap::kTurbo: cv::applyColorMap(levels, bgr, cv::COLORMAP_TURBO); break;
    case ColourMap::kDiverging: {
      static const cv::Mat lut = diverging_lut_bgr();
      cv::applyColorMap(levels, bgr, lut);
      break;
    }
  }
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

cv::Vec3b colour_of(double position, ColourMap map) {
  if (std::isnan(position)) position = 0.0;
  const int level = static_cast<int>(std::lround(std::clamp(position, 0.0, 1.0) * 255.0));
  return apply_colour_map(cv::Mat(1, 1, CV_8UC1, cv::Scalar(level)), map).at<cv::Vec3b>(0, 0);
}

}  // namespace atman
