#include "atman/render/image_scores.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "atman/io/image.h"

namespace atman {

std::vector<ImageRectScore> image_rect_scores(const Explanation& e, const std::vector<double>& scores) {
  if (scores.size() != e.units.size()) {
    throw std::invalid_argument(fmt::format("image_rect_scores: {} scores for {} units", scores.size(), e.units.size()));
  }
  std::vector<ImageRectScore> out;
  if (!e.image_grid) return out;
  if (!e.image_size || !e.image_config) {
    throw std::invalid_argument("image_rect_scores: the explanation has an image grid but no image size or config");
  }
  const auto [w, h] = *e.image_size;
  const int64_t cols = e.image_grid->second;
  const std::vector<PixelRect> cells = patch_rectangles(static_cast<int>(w), static_cast<int>(h), *e.image_config);
  for (size_t u = 0; u < e.units.size(); ++u) {
    const ExplainedUnit& unit = e.units[u];
    if (unit.kind != PositionKind::kImage) continue;
    const int64_t first = unit.index - (unit.patch_row * cols + unit.patch_col);  // the image's first position
    int x0 = static_cast<int>(w), y0 = static_cast<int>(h), x1 = 0, y1 = 0;
    for (int64_t member : unit.members) {
      const int64_t k = member - first;
      if (k < 0 || k >= static_cast<int64_t>(cells.size())) {
        throw std::invalid_argument(fmt::format("image_rect_scores: position {} lies outside the image grid", member));
      }
      const PixelRect& cell = cells[static_cast<size_t>(k)];
      if (cell.width() <= 0 || cell.height() <= 0) continue;  // wholly in the padding
      x0 = std::min(x0, cell.x0);
      y0 = std::min(y0, cell.y0);
      x1 = std::max(x1, cell.x1);
      y1 = std::max(y1, cell.y1);
    }
    if (x1 <= x0 || y1 <= y0) continue;
    out.push_back({static_cast<double>(x0) / static_cast<double>(w), static_cast<double>(y0) / static_cast<double>(h),
                   static_cast<double>(x1 - x0) / static_cast<double>(w),
                   static_cast<double>(y1 - y0) / static_cast<double>(h), scores[u]});
  }
  return out;
}

}  // namespace atman
