#pragma once
// Image tiles (docs/method.md, "Image tiles"): the patch grid cut into
// n x n rectangles of patches, explained as one unit each.

#include <cstdint>
#include <utility>
#include <vector>

#include "atman/core/units.h"
#include "atman/model/sequence.h"

namespace atman {

/// Tiles per side of coarse-to-fine's first level when none is given.
constexpr int64_t kDefaultCoarseTiles = 3;

/// Tile a of n along an axis of `grid` patches: patches floor(a G / n) to
/// floor((a + 1) G / n) - 1, both ends inclusive.
std::pair<int64_t, int64_t> tile_span(int64_t a, int64_t grid, int64_t n);

/// One tile: its patch rows and columns, both ends inclusive.
struct ImageTile {
  int64_t row0 = 0, row1 = 0, col0 = 0, col1 = 0;
  bool contains(const ImageTile& t) const {
    return row0 <= t.row0 && t.row1 <= row1 && col0 <= t.col0 && t.col1 <= col1;
  }
};

/// The tiles of `rows` x `cols` patches cut into n_rows x n_cols, row-major.
/// Throws std::invalid_argument when a count is below 1 or above its side.
std::vector<ImageTile> image_tiles(int64_t rows, int64_t cols, int64_t n_rows, int64_t n_cols);

/// Sequence positions of a tile's patches, row-major.
std::vector<int64_t> tile_positions(const Sequence& sequence, const ImageTile& tile);

/// Replaces the single-patch groups of `units` by the n x n tiles of the
/// sequence's grid (where the image stands, row-major), labelled with their
/// ranges. Throws std::invalid_argument "image granularity N is larger than
/// the R x C patch grid" and for n < 0; nothing without an image.
void group_patches_into_tiles(const Sequence& sequence, int64_t n, ExplainedUnits& units);

}  // namespace atman
