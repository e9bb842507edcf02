#pragma once
// The image side of a model's config (`image` of atman/config.json): what the
// image loader needs to prepare pixels, apart from the model itself.

#include <array>
#include <cstdint>

namespace atman {

/// `image.resize` of atman/config.json: how a decoded image reaches `size`
/// (docs/contract.md, "Pixels").
enum class ImageResize {
  kStretch,     // "stretch" (default): resize to size, ignoring the aspect ratio
  kCenterCrop,  // "center_crop": scale so that the shorter side fits, cut out the centre
  kPad,         // "pad": pad the shorter side equally with the mean colour to a square, then resize
};

/// `image` of atman/config.json.
struct ImageConfig {
  int64_t height = 0;     // size[0]
  int64_t width = 0;      // size[1]
  int64_t grid_rows = 0;  // grid[0]
  int64_t grid_cols = 0;  // grid[1]
  std::array<double, 3> mean{{0.0, 0.0, 0.0}};
  std::array<double, 3> std{{1.0, 1.0, 1.0}};
  ImageResize resize = ImageResize::kStretch;
  int64_t patches() const { return grid_rows * grid_cols; }
};

}  // namespace atman
