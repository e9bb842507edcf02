#pragma once
// Images: decode anything OpenCV reads, convert to 8-bit RGB, prepare the
// model's pixel tensor, and map the patch grid back to the original pixels.

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "atman/io/image_config.h"

namespace atman {

/// Largest width*height accepted: 8192 x 8192. Checked on the file's header
/// before decoding (image_header.h), and again on the decoded image.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;  // 67,108,864 pixels
/// Largest image file read (an uncompressed 8192 x 8192 16-bit RGBA image fits).
constexpr int64_t kMaxImageFileBytes = int64_t{1} << 30;  // 1 GiB

/// Reads and decodes an image file into 8-bit RGB (CV_8UC3): grayscale is
/// replicated, alpha dropped, 16-bit and float scaled to 8 bits.
/// Throws std::runtime_error naming the file (missing, not a regular file,
/// empty, too large, not an image, truncated, header over the pixel limit).
cv::Mat read_image_rgb(const std::string& path);
/// The bytes of an image file, after the checks of read_image_rgb that need
/// no decoding (missing, folder, not a regular file, over kMaxImageFileBytes).
/// read_image_rgb(path) is decode_image_rgb(read_image_file(path), path).
std::string read_image_file(const std::string& path);
/// Upper estimate of the bytes decode_image_rgb allocates for these encoded
/// bytes, from the header alone (0 when the format is not recognised or the
/// header is over kMaxImagePixels, which decode_image_rgb refuses unallocated).
int64_t estimate_decode_bytes(const std::string& bytes, const std::string& origin);
/// Same from encoded bytes; `origin` names them in errors. The header's
/// width*height is checked against `max_pixels` before anything is decoded.
cv::Mat decode_image_rgb(const std::string& bytes, const std::string& origin,
                         int64_t max_pixels = kMaxImagePixels);
/// Any decoded cv::Mat (1/3/4 channels, 8/16-bit or float, BGR order) -> 8-bit RGB.
cv::Mat to_rgb8(const cv::Mat& decoded, const std::string& origin);

/// Resizes as the trainer does: INTER_AREA when either side shrinks, INTER_LINEAR otherwise.
cv::Mat resize_for_model(const cv::Mat& rgb, int64_t height, int64_t width);
/// Resizes with `resample`: resize_for_model for kOpenCv, else Pillow's filter
/// (pil_resample.h), as Hugging Face's image processors resize.
cv::Mat resize_for_model(const cv::Mat& rgb, int64_t height, int64_t width, ImageResample resample);
/// 8-bit RGB -> 8-bit RGB of exactly config.height x config.width, as
/// config.resize says (docs/contract.md, "Pixels"):
/// Every resize is resize_for_model with config.resample.
///   stretch:     resize_for_model to H x W;
///   center_crop: resize so that the side that needs the larger scale fits
///                exactly (the other becomes floor(side * scale), at least its
///                target), then cut out the centre (offsets floor((excess) / 2));
///   pad:         pad to a square of side max(h, w), floor((side - h) / 2) rows on
///                top (columns on the left likewise) and the rest on the other
///                side, with the mean colour as LLaVA-1.5 writes it
///                (int(mean * 255) per channel), then resize_for_model to H x W.
cv::Mat model_image(const cv::Mat& rgb, const ImageConfig& config);
/// 8-bit RGB -> float32 [1, 3, H, W]: model_image, scale to [0, 1], (x - mean) / std.
at::Tensor image_to_tensor(const cv::Mat& rgb, const ImageConfig& config);

/// The part of the original image (image_width x image_height) that the
/// model's whole input shows, in original pixel coordinates (fractional):
/// the whole image (stretch), the central crop (center_crop), or the padded
/// square, which reaches outside the image (pad: negative x0 or y0).
struct ImageView {
  double x0 = 0.0, y0 = 0.0, x1 = 0.0, y1 = 0.0;
};
ImageView model_view(int image_width, int image_height, const ImageConfig& config);

/// A pixel rectangle [x0, x1) x [y0, y1) of the original image.
struct PixelRect {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int width() const { return x1 - x0; }
  int height() const { return y1 - y0; }
};

/// Rectangles of patch (r, c), row-major, for an image of width x height
/// split into rows x cols patches: patch r covers rows floor(r*H/rows) ..
/// floor((r+1)*H/rows) - 1; the rectangles tile the image exactly.
std::vector<PixelRect> patch_rectangles(int image_width, int image_height, int64_t rows, int64_t cols);
/// The same through config.resize: model_view split into the grid (cell edges
/// x0 + c * (x1 - x0) / cols, floored), clipped to the image. A patch that lies
/// wholly in the padding gets an empty rectangle; with stretch this equals
/// patch_rectangles(image_width, image_height, grid_rows, grid_cols).
std::vector<PixelRect> patch_rectangles(int image_width, int image_height, const ImageConfig& config);

}  // namespace atman
