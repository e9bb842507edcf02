#include "atman/render/heat_map.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

namespace atman {
namespace {

// kAuto's threshold: a map is signed when its most negative value reaches this
// fraction of its largest positive one.
constexpr double kSignedFraction = 0.1;

std::pair<int64_t, int64_t> checked_grid(const Explanation& explanation) {
  if (!explanation.image_grid) {
    throw std::invalid_argument("relevance_grid: the explanation has no image grid (text-only input)");
  }
  const auto [rows, cols] = *explanation.image_grid;
  if (rows <= 0 || cols <= 0) {
    throw std::invalid_argument(
        fmt::format("relevance_grid: expected a positive image grid, got [{}, {}]", rows, cols));
  }
  return {rows, cols};
}

// Calls visit(row, col) for every patch of every image unit (with the unit's index).
template <typename Visit>
void for_each_patch(const Explanation& explanation, Visit visit) {
  const auto [rows, cols] = checked_grid(explanation);
  for (size_t i = 0; i < explanation.units.size(); ++i) {
    const ExplainedUnit& unit = explanation.units[i];
    if (unit.kind != PositionKind::kImage) continue;
    if (unit.patch_row < 0 || unit.patch_row >= rows || unit.patch_col < 0 || unit.patch_col >= cols) {
      throw std::invalid_argument(fmt::format("relevance_grid: patch ({}, {}) of position {} lies outside the [{}, {}] grid",
                                              unit.patch_row, unit.patch_col, unit.index, rows, cols));
    }
    for (const auto& [r, c] : unit_patches(unit, rows, cols)) {
      visit(i, r, c);
    }
  }
}

}  // namespace

std::vector<std::pair<int, int>> unit_patches(const ExplainedUnit& unit, int64_t grid_rows, int64_t grid_cols) {
  // Members are sequence positions; the image's patches are consecutive and
  // row-major, and the unit's first member sits at (patch_row, patch_col).
  const int64_t first = unit.patch_row * grid_cols + unit.patch_col;
  std::vector<std::pair<int, int>> patches = {{static_cast<int>(unit.patch_row), static_cast<int>(unit.patch_col)}};
  for (int64_t member : unit.members) {
    const int64_t offset = first + (member - unit.index);
    // Members outside the image (text positions of a mixed custom group) are no patches.
    if (member == unit.index || offset < 0 || offset >= grid_rows * grid_cols) continue;
    patches.emplace_back(static_cast<int>(offset / grid_cols), static_cast<int>(offset % grid_cols));
  }
  return patches;
}

std::string image_unit_label(const ExplainedUnit& unit, int64_t grid_rows, int64_t grid_cols) {
  std::string label = fmt::format("patch ({}, {})", unit.patch_row, unit.patch_col);
  const auto patches = unit_patches(unit, grid_rows, grid_cols);
  if (unit.tile_row0 >= 0 && unit.refined) {
    label = fmt::format("tile ({}-{}, {}-{})", unit.tile_row0, unit.tile_row1, unit.tile_col0, unit.tile_col1);
  } else if (unit.tile_row0 >= 0) {
    label += fmt::format(" (not refined: the value of tile ({}-{}, {}-{}))", unit.tile_row0, unit.tile_row1,
                         unit.tile_col0, unit.tile_col1);
  } else if (patches.size() > 1) {
    label = fmt::format("{} patches", patches.size());
  }
  return unit.name.empty() ? label : fmt::format("group \"{}\": {}", unit.name, label);
}

cv::Mat relevance_grid(const Explanation& explanation, std::optional<int> target_index) {
  const auto [rows, cols] = checked_grid(explanation);
  if (target_index && (*target_index < 0 || *target_index >= static_cast<int>(explanation.targets.size()))) {
    throw std::invalid_argument(fmt::format("relevance_grid: target index {} out of range [0, {})", *target_index,
                                            explanation.targets.size()));
  }
  cv::Mat grid(static_cast<int>(rows), static_cast<int>(cols), CV_64F, cv::Scalar(0.0));
  for_each_patch(explanation, [&](size_t i, int r, int c) {
    const ExplainedUnit& unit = explanation.units[i];
    double value = unit.relevance;
    if (target_index) {
      const auto t = static_cast<size_t>(*target_index);
      value = t < unit.per_target.size() ? unit.per_target[t] : 0.0;
    }
    grid.at<double>(r, c) = std::isfinite(value) ? value : 0.0;
  });
  return grid;
}

cv::Mat unit_grid(const Explanation& explanation) {
  const auto [rows, cols] = checked_grid(explanation);
  cv::Mat ids(static_cast<int>(rows), static_cast<int>(cols), CV_32S, cv::Scalar(-1));
  for_each_patch(explanation, [&](size_t i, int r, int c) { ids.at<int>(r, c) = static_cast<int>(i); });
  return ids;
}

cv::Mat border_grid(const Explanation& explanation) {
  cv::Mat ids = unit_grid(explanation);
  const int cols = ids.cols;
  for (int r = 0; r < ids.rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const int i = ids.at<int>(r, c);
      if (i < 0) continue;
      const ExplainedUnit& unit = explanation.units[static_cast<size_t>(i)];
      // Unrefined patches of one tile share its value: one outline around the tile.
      if (!unit.refined && unit.tile_row0 >= 0) {
        ids.at<int>(r, c) = -2 - static_cast<int>(unit.tile_row0 * cols + unit.tile_col0);
      }
    }
  }
  return ids;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (rank - static_cast<double>(below)) * (values[above] - values[below]);
}

HeatScale heat_scale(const cv::Mat& grid, ColourMap map, double clip_percentile, bool contrastive) {
  if (!(clip_percentile > 0.0 && clip_percentile <= 100.0)) {
    throw std::invalid_argument(
        fmt::format("heat_scale: the clip percentile must lie in (0, 100], got {}", clip_percentile));
  }
  cv::Mat values;
  grid.convertTo(values, CV_64F);
  std::vector<double> shown;
  double largest = 0.0, most_negative = 0.0;
  for (auto it = values.begin<double>(); it != values.end<double>(); ++it) {
    const double v = std::isfinite(*it) ? *it : 0.0;
    largest = std::max(largest, v);
    most_negative = std::max(most_negative, -v);
    shown.push_back(v);
  }
  // Signed: negatives large enough to see (AtMan's maps carry tiny negative
  // noise that a diverging map would spend half its range on).
  const bool signed_map = most_negative > 0.0 && most_negative >= kSignedFraction * largest;
  HeatScale scale;
  scale.map = map != ColourMap::kAuto ? map : (signed_map || contrastive ? ColourMap::kDiverging : ColourMap::kViridis);
  scale.diverging = scale.map == ColourMap::kDiverging;
  for (double& v : shown) v = scale.diverging ? std::abs(v) : std::max(v, 0.0);
  scale.scale = percentile(std::move(shown), clip_percentile);
  return scale;
}

cv::Mat normalise_relevance(const cv::Mat& grid, const HeatScale& scale) {
  cv::Mat normalised(grid.size(), CV_32F, cv::Scalar(0.0f));
  if (!(scale.scale > 0.0) || !std::isfinite(scale.scale)) return normalised;
  const double low = scale.diverging ? -1.0 : 0.0;
  cv::Mat values;
  grid.convertTo(values, CV_64F);
  for (int r = 0; r < values.rows; ++r) {
    for (int c = 0; c < values.cols; ++c) {
      const double v = values.at<double>(r, c);
      normalised.at<float>(r, c) = static_cast<float>(std::isfinite(v) ? std::clamp(v / scale.scale, low, 1.0) : 0.0);
    }
  }
  return normalised;
}

cv::Mat upsample_heatmap(const cv::Mat& normalised_grid, cv::Size size) {
  cv::Mat heat;
  cv::resize(normalised_grid, heat, size, 0, 0, cv::INTER_CUBIC);
  cv::min(heat, 1.0, heat);
  cv::max(heat, -1.0, heat);  // bicubic overshoot; a [0, 1] grid may dip a little below 0, shown as 0
  return heat;
}

cv::Mat heat_over_image(const cv::Mat& normalised_grid, cv::Size size, const ImageView& view) {
  const int view_width = std::max(1, static_cast<int>(std::lround(view.x1 - view.x0)));
  const int view_height = std::max(1, static_cast<int>(std::lround(view.y1 - view.y0)));
  const int left = static_cast<int>(std::lround(view.x0)), top = static_cast<int>(std::lround(view.y0));
  if (left == 0 && top == 0 && view_width == size.width && view_height == size.height) {
    return upsample_heatmap(normalised_grid, size);
  }
  const cv::Mat whole = upsample_heatmap(normalised_grid, cv::Size(view_width, view_height));
  cv::Mat heat = cv::Mat::zeros(size, CV_32F);  // outside the view (cropped away): no heat
  const cv::Rect shown = cv::Rect(left, top, view_width, view_height) & cv::Rect(0, 0, size.width, size.height);
  if (!shown.empty()) whole(shown - cv::Point(left, top)).copyTo(heat(shown));
  return heat;
}

ImageView shown_model_view(const Explanation& explanation, cv::Size original, cv::Size shown) {
  if (!explanation.image_config) return {0.0, 0.0, static_cast<double>(shown.width), static_cast<double>(shown.height)};
  const ImageView view = model_view(original.width, original.height, *explanation.image_config);
  const double sx = static_cast<double>(shown.width) / original.width;
  const double sy = static_cast<double>(shown.height) / original.height;
  return {view.x0 * sx, view.y0 * sy, view.x1 * sx, view.y1 * sy};
}

}  // namespace atman
