#pragma once
// Relevance of image patches -> a heat map blended over the original image,
// with a colour bar at the right and the caption below, both OUTSIDE the
// image: the image itself keeps its pixels and resolution.
//
// Usage:
//   cv::Mat rgb = ...;  // the original image, 8-bit RGB, any size
//   atman::write_overlay_png(explanation, rgb, "Q: What color is the circle?  A: red",
//                            "out/overlay.png");
//
// The pipeline (heat_map.h has the steps):
//   1. relevance_grid: R[i] of every image unit on the patch grid (a unit of
//      several patches covers all of them).
//   2. heat_scale: the colour map (auto: viridis, or the diverging map centred
//      at 0 for signed or contrastive maps) and the value at the top of the
//      scale, the `clip_percentile` percentile of the shown magnitudes, so that
//      one outlier does not wash out the rest (Captum clips the same way).
//   3. normalise_relevance and heat_over_image: v in [0, 1] (or [-1, 1]),
//      upsampled bicubically onto what the model saw of the image.
//   4. blend: each pixel becomes (1 - a) * image + a * colour(v) with opacity
//      a = alpha * |v|: 0 where nothing is relevant, so the picture shows
//      through, `alpha` at the top of the scale.
//   5. decorations: optional patch (or tile) borders over the image; a white
//      strip at the right with the colour bar and its labels, and one at the
//      bottom with the caption. Images under 48 px on a side get the blended
//      image only (exactly the original's size).

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"
#include "atman/render/colour_map.h"
#include "atman/render/heat_map.h"

namespace atman {

/// How the overlay is drawn. Defaults give the `--overlay` PNG.
struct OverlayOptions {
  /// The heat's opacity at the top of the scale, in [0, 1] (--overlay-alpha);
  /// it falls linearly to 0 at relevance 0.
  double alpha = 0.5;
  /// --colormap: auto picks viridis, or the diverging map for signed relevance.
  ColourMap colour_map = ColourMap::kAuto;
  /// Values above this percentile of the shown magnitudes (over the patches)
  /// get the top colour; in (0, 100], 100 = no clipping (--clip-percentile).
  double clip_percentile = 99.0;
  /// Thin lines around every unit's patches (--patch-borders).
  bool patch_borders = false;
  /// The colour bar strip at the right, with its labels.
  bool colour_bar = true;
  /// The caption strip below the image when the caption is not empty.
  bool caption = true;
  /// Size of the image part relative to the original (1 = the original's
  /// resolution). Values > 1 give crisper text for small images, e.g. for
  /// the HTML report; the image itself is upsampled bicubically.
  double scale = 1.0;
  /// Show R[i, t] of this target token instead of R[i] (the sum over targets).
  std::optional<int> target_index;
  /// Treat the map as signed even without negative values (also implied by
  /// Explanation::contrast, whose relevance is signed by design).
  bool contrastive = false;
};

/// std::invalid_argument naming the first bad field: alpha outside [0, 1],
/// clip_percentile outside (0, 100], a scale that is not positive.
void check_overlay_options(const OverlayOptions& options);

/// heat_scale of the map the options select (sum or one target), signed when
/// the options or the explanation (a contrast) say so.
HeatScale overlay_heat_scale(const Explanation& explanation, const OverlayOptions& options);

/// The heat map blended over `image_rgb` (8-bit RGB, the size it is shown
/// at), no strips: step 4 above, with borders when asked. `scale` comes from
/// heat_scale of the same explanation's grid.
cv::Mat blend_overlay(const Explanation& explanation, const cv::Mat& image_rgb, cv::Size original_size,
                      const HeatScale& scale, const OverlayOptions& options);

/// The full overlay as an 8-bit RGB image: the original times `options.scale`
/// in the top-left corner, plus the strips (so wider and taller than the
/// image unless both strips are off). `original_rgb` is 8-bit with 3 (RGB),
/// 1 (gray) or 4 (RGBA) channels. Throws std::invalid_argument for an empty
/// image, another depth, bad options, or an explanation without an image grid.
cv::Mat render_overlay(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const OverlayOptions& options = {});

/// render_overlay encoded as PNG bytes (for files and for embedding).
std::string render_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                               const std::string& caption, const OverlayOptions& options = {});

/// 8-bit RGB `rgb` encoded as PNG bytes.
std::string encode_png(const cv::Mat& rgb);

/// render_overlay_png written atomically to `path` (see atomic_file.h);
/// failures throw std::runtime_error "cannot write overlay: PATH: REASON".
void write_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const std::string& path,
                       const OverlayOptions& options = {});

/// The caption the tools use: "Q: QUESTION\nA: ANSWER" (the answer trimmed of
/// surrounding spaces); `question` may also be a verbatim prompt.
std::string overlay_caption(const std::string& question, const std::string& answer);

/// The colour bar's labels, top to bottom, each with its height along the bar
/// (0 = top, 1 = bottom): the top of the scale and 0, or +s, 0, -s when diverging.
std::vector<std::pair<std::string, double>> colour_bar_labels(const HeatScale& scale);

/// 8-bit RGB copy of an 8-bit gray, RGB or RGBA image (std::invalid_argument otherwise).
cv::Mat to_rgb(const cv::Mat& image);

// ---- Text heat map (HTML and terminal) ------------------------------------
// Text units are coloured on a diverging scale shared by the whole prompt:
// white at 0, towards red for positive relevance (suppressing the token made
// the target less likely), towards blue for negative, with intensity
// |R| / text_relevance_scale.

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
