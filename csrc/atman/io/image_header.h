#pragma once
// Image sizes read from the file header, before anything is decoded, so that
// a hostile header (a 30000x30000 PNG of a few bytes) is refused without
// allocating its pixels.
//
// Usage:
//   if (auto h = atman::read_image_header(bytes, "x.png")) {
//     // h->format == "PNG", h->width, h->height, h->decoded_bytes()
//   }

#include <cstdint>
#include <optional>
#include <string>

namespace atman {

/// What the header of an encoded image says, without decoding it.
struct ImageHeader {
  std::string format;  // "PNG", "JPEG", "BMP", "TIFF", "WebP", "JPEG 2000", "PNM", "PAM", "PFM",
                       // "Sun raster", "OpenEXR", "Radiance HDR"
  int64_t width = 0;   // in [1, 2^31 - 1]
  int64_t height = 0;  // in [1, 2^31 - 1]
  int channels = 0;           // 0: not known from the header
  int bytes_per_channel = 0;  // 0: not known from the header
  /// width * height (both are at most 2^31 - 1, so this cannot overflow).
  int64_t pixels() const { return width * height; }
  /// Upper bound of the bytes OpenCV's decoder allocates for the pixels
  /// (unknown channels/depth count as 4 channels of 4 bytes); saturates at 2^62.
  int64_t decoded_bytes() const {
    const int64_t per_pixel = (channels > 0 ? channels : 4) * (bytes_per_channel > 0 ? bytes_per_channel : 4);
    return pixels() > (int64_t{1} << 62) / per_pixel ? int64_t{1} << 62 : pixels() * per_pixel;
  }
};

/// Reads the size from the header of every format OpenCV 4.6 decodes (PNG,
/// JPEG, BMP/DIB, TIFF and BigTIFF, WebP, JPEG 2000 (JP2 and codestream),
/// PBM/PGM/PPM, PAM, PFM, Sun raster, OpenEXR, Radiance HDR).
/// Returns nullopt when the bytes start with none of their signatures (then
/// no OpenCV decoder accepts them either). Throws std::runtime_error, naming
/// `origin` and the format, when the signature is known but the header is
/// cut short or damaged (no size can be read, a size of 0, or a side of
/// 2^31 pixels or more, which no decoder accepts).
/// Reads only the header: safe on any bytes, never allocates per pixel.
std::optional<ImageHeader> read_image_header(const std::string& bytes, const std::string& origin);

}  // namespace atman
