#include "atman/core/shaping.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace atman {
namespace {

// Column `k` of a per-token field of every unit, or back into it.
std::vector<double> column(const Explanation& e, std::vector<double> ExplainedUnit::*field, size_t k) {
  std::vector<double> out;
  for (const ExplainedUnit& u : e.units) out.push_back((u.*field).at(k));
  return out;
}

void set_column(Explanation& e, std::vector<double> ExplainedUnit::*field, size_t k, const std::vector<double>& v) {
  for (size_t i = 0; i < e.units.size(); ++i) (e.units[i].*field).at(k) = v[i];
}

// The width of a per-token field (every unit has the same).
size_t width(const Explanation& e, std::vector<double> ExplainedUnit::*field) {
  return e.units.empty() ? 0 : (e.units.front().*field).size();
}

}  // namespace

std::vector<double> shape_map(std::vector<double> values, Postprocess postprocess, bool normalize) {
  for (double& v : values) {
    if (postprocess == Postprocess::kAbsolute) v = std::abs(v);
    if (postprocess == Postprocess::kSquare) v = v * v;
  }
  if (!normalize) return values;
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  for (double& v : values) {
    if (!std::isfinite(v)) continue;
    v = hi > lo ? (v - lo) / (hi - lo) : 0.0;  // a constant map has no scale: all 0
  }
  return values;
}

void shape_explanation(Explanation& e) {
  const ExplainOptions& o = e.params;
  if (o.postprocess == Postprocess::kNone && !o.normalize) return;
  if (e.shaped) throw std::invalid_argument("shape_explanation: the explanation is shaped already");
  for (ExplainedUnit& u : e.units) {
    u.raw_relevance = u.relevance;
    u.raw_per_target = u.per_target;
    u.raw_per_contrast = u.per_contrast;
  }
  std::vector<double> complete;
  for (const ExplainedUnit& u : e.units) complete.push_back(u.relevance);
  complete = shape_map(std::move(complete), o.postprocess, o.normalize);
  for (size_t i = 0; i < e.units.size(); ++i) e.units[i].relevance = complete[i];
  for (auto field : {&ExplainedUnit::per_target, &ExplainedUnit::per_contrast}) {
    for (size_t k = 0; k < width(e, field); ++k) {
      set_column(e, field, k, shape_map(column(e, field, k), o.postprocess, o.normalize));
    }
  }
  e.shaped = true;
}

void finish_explanation(Explanation& e, const cv::Mat& image_rgb) {
  if (!image_rgb.empty()) e.image_size = std::make_pair<int64_t, int64_t>(image_rgb.cols, image_rgb.rows);
  shape_explanation(e);
}

std::vector<PresentedMap> presented_maps(const Explanation& e) {
  std::vector<PresentedMap> maps;
  if (e.params.target_granularity == TargetGranularity::kToken && !e.contrast) {
    for (size_t t = 0; t < e.targets.size(); ++t) {
      maps.push_back({{static_cast<int64_t>(t)}, column(e, &ExplainedUnit::per_target, t)});
    }
    return maps;
  }
  PresentedMap whole;
  for (size_t t = 0; t < e.targets.size(); ++t) whole.target_tokens.push_back(static_cast<int64_t>(t));
  for (const ExplainedUnit& u : e.units) whole.scores.push_back(u.relevance);
  maps.push_back(std::move(whole));
  return maps;
}

}  // namespace atman
