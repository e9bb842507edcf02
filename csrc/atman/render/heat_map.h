#pragma once
// Relevance of image units -> a heat map in the image's pixels: the grid of
// patch values, its scale (clipped at a percentile), the normalised map, and
// the map upsampled onto the image through image.resize.
//
// Usage:
//   const cv::Mat grid = relevance_grid(explanation);            // [rows, cols] raw values
//   const HeatScale scale = heat_scale(grid, ColourMap::kAuto, 99.0);
//   const cv::Mat heat = upsample_heatmap(normalise_relevance(grid, scale), image.size());

#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"
#include "atman/io/image.h"
#include "atman/render/colour_map.h"

namespace atman {

/// The relevance of every image unit as a CV_64F [rows, cols] grid, raw
/// values, non-finite ones replaced by 0. A unit of several patches (an image
/// tile) fills every member patch with its value. With `target_index`, R[i, t]
/// of that target instead of R[i]. Throws std::invalid_argument when the
/// explanation has no image grid, a patch lies outside it, or the index is
/// out of range.
cv::Mat relevance_grid(const Explanation& explanation, std::optional<int> target_index = std::nullopt);

/// Which unit covers each patch: a CV_32S [rows, cols] grid of indices into
/// explanation.units, -1 for patches no unit covers. Same checks as relevance_grid.
cv::Mat unit_grid(const Explanation& explanation);

/// Like unit_grid, but the cells whose outline --patch-borders draws: an
/// unrefined patch (coarse-to-fine) takes its tile's key, so the tile is outlined.
cv::Mat border_grid(const Explanation& explanation);

/// The patch (row, col) of image unit `unit` and of every other member that
/// lies in the image (row-major image positions: the unit's first member sits
/// at its patch_row, patch_col; text members of a mixed group are left out).
std::vector<std::pair<int, int>> unit_patches(const ExplainedUnit& unit, int64_t grid_rows, int64_t grid_cols);

/// How reports name an image unit: "patch (r, c)"; a tile "tile (r0-r1, c0-c1)"
/// (rows and columns it spans); an unrefined patch with its tile; "N patches"
/// for another multi-patch unit; a custom group prefixed by `group "NAME": `.
std::string image_unit_label(const ExplainedUnit& unit, int64_t grid_rows, int64_t grid_cols);

/// How relevance maps onto colours.
struct HeatScale {
  ColourMap map = ColourMap::kViridis;  // resolved: never kAuto
  bool diverging = false;               // centred at 0, negatives shown (map is kDiverging)
  /// The value shown at the top of the scale: the `clip_percentile` percentile
  /// of the values the map shows (|R| when diverging, max(R, 0) otherwise);
  /// larger values are clipped to it. 0 when the map shows nothing.
  double scale = 0.0;
};

/// The p-th percentile of `values` (p in [0, 100]) by linear interpolation
/// between the sorted values (NumPy's default); 0 for no values.
double percentile(std::vector<double> values, double p);

/// The scale of `grid` under `map`. kAuto becomes kDiverging for a signed map
/// -- its most negative value reaches a tenth of its largest positive one (or
/// it has no positive value) -- or when `contrastive` is set (relevance meant
/// to be signed), else kViridis. `clip_percentile` in (0, 100] (std::invalid_argument
/// otherwise); 100 is the largest value, no clipping.
HeatScale heat_scale(const cv::Mat& grid, ColourMap map, double clip_percentile, bool contrastive = false);

/// The grid divided by the scale and clipped: CV_32F in [0, 1], or [-1, 1]
/// when diverging (negatives clipped at 0 otherwise). All 0 when the scale is 0.
cv::Mat normalise_relevance(const cv::Mat& grid, const HeatScale& scale);

/// The normalised grid resized bicubically to `size` (each grid cell maps onto
/// its rectangle of the image, since the model sees the whole image resized),
/// clipped back to [-1, 1] and CV_32F.
cv::Mat upsample_heatmap(const cv::Mat& normalised_grid, cv::Size size);

/// upsample_heatmap through image.resize: the grid upsampled onto `view` (the
/// part of an image of `size` that the model saw, io/image.h model_view, in
/// that image's pixels) and placed there; pixels outside the view (cropped
/// away) get 0, and the parts of the view outside the image (padding) are cut
/// off. With the whole image as the view, upsample_heatmap(grid, size).
cv::Mat heat_over_image(const cv::Mat& normalised_grid, cv::Size size, const ImageView& view);

/// The part of an image shown at `shown` pixels (the original `original`
/// pixels, possibly rescaled) that the model saw: the whole image without an
/// image config, else model_view scaled to `shown`.
ImageView shown_model_view(const Explanation& explanation, cv::Size original, cv::Size shown);

}  // namespace atman
