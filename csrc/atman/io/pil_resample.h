#pragma once
// Pillow's convolution resize (Image.resize with BICUBIC, BILINEAR, LANCZOS,
// BOX or HAMMING), reproduced for 8-bit RGB: the filters of Hugging Face's
// image processors, which resize with PIL. Written from Pillow's published
// definition (libImaging/Resample.c): the filter's support widened by the
// reduction factor (antialiasing), taps normalised to sum 1 and rounded to
// 22-bit fixed point, a horizontal pass rounded to 8 bits, then a vertical one.
//
// Usage: cv::Mat out = pil_resize(rgb, 336, 336, PilFilter::kBicubic);

#include <cstdint>

#include <opencv2/core.hpp>

namespace atman {

/// Pillow's resampling filters (Image.Resampling), with their support.
enum class PilFilter {
  kBox,       // support 0.5
  kBilinear,  // triangle, support 1
  kHamming,   // support 1
  kBicubic,   // Keys cubic with a = -0.5, support 2
  kLanczos,   // sinc windowed by sinc(x / 3), support 3
};

/// Resizes 8-bit RGB (CV_8UC3) to height x width as Pillow's Image.resize
/// does for an "RGB" image with this filter: bit-exact on Pillow 9.x.
/// A pass whose size does not change is skipped, as in Pillow.
cv::Mat pil_resize(const cv::Mat& rgb, int64_t height, int64_t width, PilFilter filter);

}  // namespace atman
