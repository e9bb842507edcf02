#pragma once
// Image relevance as rectangles in 0-1 coordinates of the original image,
// one score each: the hosted explanation API's format (docs/json.md,
// "explanations"). The rectangles are the overlay's: the patch grid mapped
// back through image.resize (io/image.h, patch_rectangles).
//
//   for (const ImageRectScore& r : image_rect_scores(e, scores))
//     draw(r.left * width, r.top * height, r.width * width, r.height * height, r.score);

#include <vector>

#include "atman/core/explanation.h"

namespace atman {

/// A rectangle of the original image in 0-1 coordinates (left and width in
/// units of its width, top and height of its height) and its score.
struct ImageRectScore {
  double left = 0.0, top = 0.0, width = 0.0, height = 0.0;
  double score = 0.0;
};

/// One rectangle per image unit of `e`, in unit order, with scores[u] (one
/// score per entry of e.units): the pixel rectangles of the unit's patches
/// on the original image joined into their bounding box (a patch or a tile
/// of patches), divided by the image's width and height. A unit whose
/// patches lie wholly in the padding (image.resize pad) covers no pixel of
/// the image and is left out. Empty without an image. Throws
/// std::invalid_argument when `scores` does not match the units, or the
/// explanation has image units but no image size or config.
std::vector<ImageRectScore> image_rect_scores(const Explanation& e, const std::vector<double>& scores);

}  // namespace atman
