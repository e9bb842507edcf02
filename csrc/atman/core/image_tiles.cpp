#include "atman/core/image_tiles.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

namespace atman {

std::pair<int64_t, int64_t> tile_span(int64_t a, int64_t grid, int64_t n) {
  return {a * grid / n, (a + 1) * grid / n - 1};
}

std::vector<ImageTile> image_tiles(int64_t rows, int64_t cols, int64_t n_rows, int64_t n_cols) {
  if (n_rows < 1 || n_cols < 1 || n_rows > rows || n_cols > cols) {
    throw std::invalid_argument(fmt::format("image granularity {}x{} does not fit the {}x{} patch grid (1 to the "
                                            "grid's side per axis)",
                                            n_rows, n_cols, rows, cols));
  }
  std::vector<ImageTile> tiles;
  for (int64_t a = 0; a < n_rows; ++a) {
    for (int64_t b = 0; b < n_cols; ++b) {
      const auto [r0, r1] = tile_span(a, rows, n_rows);
      const auto [c0, c1] = tile_span(b, cols, n_cols);
      tiles.push_back({r0, r1, c0, c1});
    }
  }
  return tiles;
}

std::vector<int64_t> tile_positions(const Sequence& sequence, const ImageTile& tile) {
  std::vector<int64_t> out;
  for (int64_t r = tile.row0; r <= tile.row1; ++r) {
    for (int64_t c = tile.col0; c <= tile.col1; ++c) out.push_back(sequence.image_begin + r * sequence.grid_cols + c);
  }
  return out;
}

void group_patches_into_tiles(const Sequence& sequence, int64_t n, ExplainedUnits& units) {
  if (n < 0) throw std::invalid_argument(fmt::format("image granularity must be >= 0 (0: patches), got {}", n));
  if (sequence.image_positions == 0) return;
  const int64_t rows = sequence.grid_rows, cols = sequence.grid_cols;
  if (n > std::min(rows, cols)) {
    throw std::invalid_argument(
        fmt::format("image granularity {} is larger than the {}x{} patch grid (at most {} tiles per side)", n, rows,
                    cols, std::min(rows, cols)));
  }
  // The patches stand together, one group each: swap that run for the tiles.
  auto first = std::find_if(units.groups.begin(), units.groups.end(),
                            [&](const std::vector<int64_t>& g) { return g.front() == sequence.image_begin; });
  const auto at = first - units.groups.begin();
  units.groups.erase(first, first + sequence.image_positions);
  units.labels.erase(units.labels.begin() + at, units.labels.begin() + at + sequence.image_positions);
  std::vector<std::vector<int64_t>> groups;
  std::vector<UnitLabel> labels;
  for (const ImageTile& t : image_tiles(rows, cols, n, n)) {
    groups.push_back(tile_positions(sequence, t));
    UnitLabel label;
    label.tile_row0 = t.row0;
    label.tile_row1 = t.row1;
    label.tile_col0 = t.col0;
    label.tile_col1 = t.col1;
    labels.push_back(label);
  }
  units.groups.insert(units.groups.begin() + at, groups.begin(), groups.end());
  units.labels.insert(units.labels.begin() + at, labels.begin(), labels.end());
}

}  // namespace atman
