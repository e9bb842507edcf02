#pragma once
// Relevance of image patches -> a smooth heat map over the original image.
//
// Usage:
//   cv::Mat rgb = ...;  // the original image, 8-bit RGB, any size
//   atman::write_overlay_png(explanation, rgb, "Q: What color is the circle?  A: red",
//                            "out/overlay.png");
//
// The pipeline, step by step (each step is a public function below):
//   1. relevance_grid: R[i] of every image unit into a [rows, cols] grid
//      (patch (r, c) of the row-major grid). Non-finite values count as 0.
//   2. normalise_relevance: negatives clipped at 0 (they mean "suppressing
//      this patch made the answer *more* likely"; the overlay shows only
//      support for the answer), then divided by the largest value, so the
//      most relevant patch is 1. When no value is positive the map is all 0
//      (no division by zero): the overlay is then uniformly the colour map's
//      bottom colour and the caption says "no positive relevance".
//   3. upsample_heatmap: bicubic resize of the grid to the image's size (each
//      grid cell maps onto its rectangle of the original image, since the
//      model sees the whole image resized), clipped back to [0, 1]. With
//      image.resize center_crop or pad (Explanation::image_config),
//      heat_over_image maps the grid through the crop or the padding: parts
//      cropped away and the padding get no heat.
//   4. render_overlay: colour map (turbo by default) on the 8-bit map,
//      alpha-blended over the image with an opacity that rises with the
//      relevance; a colour bar (0 .. max) at the right and
//      a caption strip at the bottom, both drawn as translucent strips INSIDE
//      the image so that the output keeps exactly the original's size (with
//      OverlayOptions::scale = 1). The caption takes at most a third of the
//      height; when it needs more, the question is shortened ("...") before
//      the answer (see overlay_caption). Images under 48 px on a side get the
//      blended heat map only: no bar, no caption.

#include <optional>
#include <string>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"

namespace atman {

/// Perceptual colour maps for the overlay (OpenCV's, on 8-bit values).
enum class ColourMap {
  kTurbo,    // improved rainbow: blue (0) .. green .. red (max); reads as "heat"
  kViridis,  // perceptually uniform, lightness rises with relevance, colour-blind safe
};

/// How the overlay is drawn. Defaults give the `--overlay` PNG.
struct OverlayOptions {
  /// Opacity of the colour map over the image, in [0, 1], rising linearly
  /// with the normalised relevance v from `min_alpha` (v = 0) to `max_alpha`
  /// (v = 1): irrelevant regions keep most of the image's own colours, the
  /// relevant ones show the map's. Set both equal for a uniform blend.
  double min_alpha = 0.3;
  double max_alpha = 0.7;
  ColourMap colour_map = ColourMap::kTurbo;
  /// Draw the colour bar (right edge) with its 0 and max labels.
  bool colour_bar = true;
  /// Draw the caption strip (bottom edge) when the caption is not empty.
  bool caption = true;
  /// Output size relative to the original (1 = exactly the original's
  /// resolution). Values > 1 give crisper text for small images, e.g. for the
  /// HTML report; the image itself is upsampled bicubically.
  double scale = 1.0;
  /// Show R[i, t] of this target token instead of R[i] (the sum over targets).
  std::optional<int> target_index;
};

/// The relevance of every image unit as a CV_64F [rows, cols] grid, raw
/// values, non-finite ones replaced by 0. Uses OverlayOptions::target_index
/// semantics when `target_index` is set. Throws std::invalid_argument when the
/// explanation has no image grid, a patch lies outside it, or the index is
/// out of range.
cv::Mat relevance_grid(const Explanation& explanation, std::optional<int> target_index = std::nullopt);

/// Step 2 above: a CV_32F grid in [0, 1]; `max_relevance` (may be null)
/// receives the largest positive value, 0 when there is none.
cv::Mat normalise_relevance(const cv::Mat& grid, double* max_relevance);

/// Step 3 above: the normalised grid resized bicubically to `size`, CV_32F in [0, 1].
cv::Mat upsample_heatmap(const cv::Mat& normalised_grid, cv::Size size);
/// Step 3 through image.resize: the grid upsampled onto `view` (the part of
/// an image of `size` that the model saw, io/image.h model_view, in that
/// image's pixels) and placed there; pixels outside the view (cropped away)
/// get 0, and the parts of the view outside the image (padding) are cut off.
/// With the whole image as the view, upsample_heatmap(grid, size).
struct ImageView;
cv::Mat heat_over_image(const cv::Mat& normalised_grid, cv::Size size, const ImageView& view);

/// The full overlay as an 8-bit RGB image of the original's size times
/// `options.scale`. `original_rgb` is 8-bit with 3 (RGB), 1 (gray) or 4
/// (RGBA) channels. Throws std::invalid_argument for an empty image, another
/// depth, or an explanation without an image grid.
cv::Mat render_overlay(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const OverlayOptions& options = {});

/// render_overlay encoded as PNG bytes (for files and for embedding).
std::string render_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                               const std::string& caption, const OverlayOptions& options = {});

/// render_overlay_png written atomically to `path` (see atomic_file.h);
/// failures throw std::runtime_error "cannot write overlay: PATH: REASON".
void write_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const std::string& path,
                       const OverlayOptions& options = {});

/// The caption the tools use: "Q: QUESTION\nA: ANSWER" (the answer trimmed of
/// surrounding spaces); `question` may also be a verbatim prompt.
std::string overlay_caption(const std::string& question, const std::string& answer);

/// The RGB colour of `value` in [0, 1] under `map` (for legends elsewhere).
cv::Vec3b colour_of(double value, ColourMap map);

// ---- Text heat map (HTML and terminal) ------------------------------------
// Text units are coloured on a diverging scale shared by the whole prompt:
// white at 0, towards red for positive relevance (suppressing the token made
// the target less likely), towards blue for negative, with intensity
// |R| / text_relevance_scale. Unlike the overlay, negatives are shown: on text
// they are few, and telling "irrelevant" from "counter-evidence" helps.

/// Largest finite |R| (or |R[i, t]| with `target_index`) over the text and
/// target units; 0 when there are none or all are 0.
double text_relevance_scale(const Explanation& explanation,
                            std::optional<int> target_index = std::nullopt);

/// Background colour (RGB) of a text unit with relevance `relevance` on a
/// scale whose extreme is `scale` (see above). White when `scale` is 0 or the
/// value is not finite.
cv::Vec3b text_background_rgb(double relevance, double scale);

/// A sentencepiece piece for display: each "\u2581" (the piece's word
/// boundary) becomes a space.
std::string display_piece(const std::string& piece);

}  // namespace atman
