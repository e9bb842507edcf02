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

/// `image.resample` of atman/config.json: the filter that resizes (docs/contract.md, "Pixels").
enum class ImageResample {
  kOpenCv,       // "opencv" (default): OpenCV's INTER_AREA when a side shrinks, INTER_LINEAR otherwise
  kPilBicubic,   // "pil_bicubic": Pillow's BICUBIC, as Hugging Face's CLIP and SigLIP processors resize
  kPilBilinear,  // "pil_bilinear": Pillow's BILINEAR
  kPilLanczos,   // "pil_lanczos": Pillow's LANCZOS
  kPilBox,       // "pil_box": Pillow's BOX
  kPilHamming,   // "pil_hamming": Pillow's HAMMING
};

/// The config name of `resample`, and all of them in order (header-only: the
/// config parser is compiled without the image code in fuzz_model_config).
inline const char* image_resample_name(ImageResample resample) {
  switch (resample) {
    case ImageResample::kOpenCv: return "opencv";
    case ImageResample::kPilBicubic: return "pil_bicubic";
    case ImageResample::kPilBilinear: return "pil_bilinear";
    case ImageResample::kPilLanczos: return "pil_lanczos";
    case ImageResample::kPilBox: return "pil_box";
    case ImageResample::kPilHamming: return "pil_hamming";
  }
  return "opencv";
}
inline constexpr ImageResample kImageResamples[] = {ImageResample::kOpenCv,      ImageResample::kPilBicubic,
                                                     ImageResample::kPilBilinear, ImageResample::kPilLanczos,
                                                     ImageResample::kPilBox,      ImageResample::kPilHamming};

/// `image` of atman/config.json.
struct ImageConfig {
  int64_t height = 0;     // size[0]
  int64_t width = 0;      // size[1]
  int64_t grid_rows = 0;  // grid[0]
  int64_t grid_cols = 0;  // grid[1]
  std::array<double, 3> mean{{0.0, 0.0, 0.0}};
  std::array<double, 3> std{{1.0, 1.0, 1.0}};
  ImageResize resize = ImageResize::kStretch;
  ImageResample resample = ImageResample::kOpenCv;
  int64_t patches() const { return grid_rows * grid_cols; }
};

}  // namespace atman
