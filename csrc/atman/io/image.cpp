#include "atman/io/image.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/image_header.h"
#include "atman/io/pil_resample.h"
#include "atman/runtime/interrupt.h"

namespace atman {
namespace {

bool starts_with(const std::string& bytes, const char* magic, size_t n) {
  return bytes.size() >= n && bytes.compare(0, n, magic, n) == 0;
}

// Truncation is checked on the container, because libjpeg "decodes" a cut
// JPEG by filling the rest with gray and libpng may warn on stderr.
void check_not_truncated(const std::string& bytes, const std::string& origin) {
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n", 8)) {
    const size_t tail = bytes.size() >= 64 ? bytes.size() - 64 : 0;
    if (bytes.find("IEND", tail) == std::string::npos) {
      throw std::runtime_error(origin + ": image file is truncated (PNG without its IEND chunk)");
    }
  } else if (starts_with(bytes, "\xff\xd8\xff", 3)) {
    const size_t tail = bytes.size() >= 256 ? bytes.size() - 256 : 0;
    if (bytes.find("\xff\xd9", tail) == std::string::npos) {
      throw std::runtime_error(origin + ": image file is truncated (JPEG without its end marker)");
    }
  }
}

// Decoders print to the process's stderr (libpng's "libpng warning: ...",
// OpenCV's "imdecode_(''): can't read data: ..."), which would break the
// one-line error contract: while `decode` runs, fd 2 goes to /dev/null.
// Serialised, since fd 2 is process-wide; a signal is held until it is back.
template <typename F>
void with_stderr_silenced(F&& decode) {
  InterruptDeferral defer;  // an interruption's line must not go to /dev/null
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::fflush(stderr);
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  const int saved = null_fd >= 0 ? ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0) : -1;
  if (saved < 0 || ::dup2(null_fd, STDERR_FILENO) < 0) {  // cannot redirect: decode as is
    if (saved >= 0) ::close(saved);
    if (null_fd >= 0) ::close(null_fd);
    decode();
    return;
  }
  ::close(null_fd);
  struct Restore {
    int saved;
    ~Restore() {
      std::fflush(stderr);
      ::dup2(saved, STDERR_FILENO);
      ::close(saved);
    }
  } restore{saved};
  decode();
}

// OpenCV decodes OpenEXR only when this variable is set (its own default since 4.5.5).
bool openexr_enabled() {
  const char* value = std::getenv("OPENCV_IO_ENABLE_OPENEXR");
  if (value == nullptr) return false;
  const std::string v = value;
  return v == "1" || v == "true" || v == "True" || v == "TRUE" || v == "on" || v == "ON";
}

}  // namespace

cv::Mat read_image_rgb(const std::string& path) { return decode_image_rgb(read_image_file(path), path); }

int64_t estimate_decode_bytes(const std::string& bytes, const std::string& origin) {
  const std::optional<ImageHeader> header = read_image_header(bytes, origin);
  if (!header || header->pixels() > kMaxImagePixels) return 0;  // refused before decoding anyway
  // The decoded image, its 8-bit copy and the RGB result.
  return header->decoded_bytes() + 6 * header->pixels();
}

std::string read_image_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw std::runtime_error(path + ": image file not found");
  if (fs::is_directory(status)) throw std::runtime_error(path + ": image path is a directory");
  // Devices and pipes could block or never end (/dev/zero): regular files only.
  if (!fs::is_regular_file(status)) throw std::runtime_error(path + ": image path is not a regular file");
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(kMaxImageFileBytes)) {
    throw std::runtime_error(fmt::format("{}: image file is {} bytes, more than the limit of {} bytes", path, size,
                                         kMaxImageFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: image file cannot be read ({})", path, std::strerror(errno)));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(path + ": image file cannot be read");
  return bytes;
}

cv::Mat decode_image_rgb(const std::string& bytes, const std::string& origin, int64_t max_pixels) {
  if (bytes.empty()) throw std::runtime_error(origin + ": image file is empty");
  if (static_cast<int64_t>(bytes.size()) > kMaxImageFileBytes) {
    throw std::runtime_error(fmt::format("{}: image file is {} bytes, more than the limit of {} bytes", origin,
                                         bytes.size(), kMaxImageFileBytes));
  }
  // OpenCV picks its DICOM decoder (GDCM) for any bytes with "DICM" at offset
  // 128, whatever comes first, and GDCM aborts the process (assert) on
  // malformed files: found by tests/fuzz (image). DICOM is not taken at all.
  if (bytes.size() >= 132 && bytes.compare(128, 4, "DICM") == 0) {
    throw std::runtime_error(origin + ": DICOM data (\"DICM\" at byte 128) is not accepted: OpenCV's DICOM decoder "
                                      "aborts the process on malformed files");
  }
  // The size in the header is checked before OpenCV allocates anything for it.
  const std::optional<ImageHeader> header = read_image_header(bytes, origin);
  if (header && header->pixels() > max_pixels) {
    throw std::runtime_error(fmt::format(
        "{}: {} header says {}x{} pixels, more than the limit of {} pixels (refused before decoding)", origin,
        header->format, header->width, header->height, max_pixels));
  }
  if (header && header->format == "OpenEXR" && !openexr_enabled()) {
    throw std::runtime_error(origin + ": OpenEXR decoding is disabled in OpenCV (set OPENCV_IO_ENABLE_OPENEXR=1 "
                                      "to allow it)");
  }
  check_not_truncated(bytes, origin);
  cv::Mat decoded;
  try {
    with_stderr_silenced([&] {
      const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
      decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
    });
  } catch (const cv::Exception& e) {  // e.msg spans lines; e.err is the failed check alone
    std::string why = e.err.substr(0, e.err.find_first_of("\r\n"));
    if (!e.func.empty()) why += " in " + e.func;
    throw std::runtime_error(fmt::format("{}: image could not be decoded (OpenCV: {})", origin, why));
  }
  if (decoded.empty()) {
    throw std::runtime_error(fmt::format("{}: not an image OpenCV can decode ({})", origin,
                                         header ? header->format + " data is corrupt or truncated"
                                                : "unknown format, corrupt or truncated"));
  }
  if (static_cast<int64_t>(decoded.rows) * decoded.cols > max_pixels) {
    throw std::runtime_error(fmt::format("{}: image is {}x{} pixels, more than the limit of {} pixels", origin,
                                         decoded.cols, decoded.rows, max_pixels));
  }
  return to_rgb8(decoded, origin);
}

cv::Mat to_rgb8(const cv::Mat& decoded, const std::string& origin) {
  if (decoded.empty() || decoded.dims != 2) throw std::runtime_error(origin + ": image is empty");
  if (static_cast<int64_t>(decoded.rows) * decoded.cols > kMaxImagePixels) {
    throw std::runtime_error(fmt::format("{}: image is {}x{} pixels, more than the limit of {}", origin,
                                         decoded.cols, decoded.rows, kMaxImagePixels));
  }
  cv::Mat eight;
  switch (decoded.depth()) {
    case CV_8U: eight = decoded; break;
    case CV_16U: decoded.convertTo(eight, CV_8U, 1.0 / 257.0); break;
    case CV_32F:
    case CV_64F: decoded.convertTo(eight, CV_8U, 255.0); break;  // float images are in [0, 1]
    default:
      throw std::runtime_error(fmt::format("{}: unsupported pixel depth (OpenCV depth {})", origin, decoded.depth()));
  }
  cv::Mat rgb;
  switch (eight.channels()) {
    case 1: cv::cvtColor(eight, rgb, cv::COLOR_GRAY2RGB); break;
    case 2: {  // gray + alpha: drop alpha
      cv::Mat gray;
      cv::extractChannel(eight, gray, 0);
      cv::cvtColor(gray, rgb, cv::COLOR_GRAY2RGB);
      break;
    }
    case 3: cv::cvtColor(eight, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(eight, rgb, cv::COLOR_BGRA2RGB); break;  // alpha dropped
    default:
      throw std::runtime_error(fmt::format("{}: unsupported number of channels {}", origin, eight.channels()));
  }
  return rgb;
}

cv::Mat resize_for_model(const cv::Mat& rgb, int64_t height, int64_t width) {
  TORCH_CHECK(rgb.type() == CV_8UC3, "resize_for_model: expected an 8-bit RGB image");
  const bool shrinking = rgb.rows > height || rgb.cols > width;
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(static_cast<int>(width), static_cast<int>(height)), 0, 0,
             shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

cv::Mat resize_for_model(const cv::Mat& rgb, int64_t height, int64_t width, ImageResample resample) {
  switch (resample) {
    case ImageResample::kOpenCv: return resize_for_model(rgb, height, width);
    case ImageResample::kPilBicubic: return pil_resize(rgb, height, width, PilFilter::kBicubic);
    case ImageResample::kPilBilinear: return pil_resize(rgb, height, width, PilFilter::kBilinear);
    case ImageResample::kPilLanczos: return pil_resize(rgb, height, width, PilFilter::kLanczos);
    case ImageResample::kPilBox: return pil_resize(rgb, height, width, PilFilter::kBox);
    case ImageResample::kPilHamming: return pil_resize(rgb, height, width, PilFilter::kHamming);
  }
  return resize_for_model(rgb, height, width);
}

namespace {

// center_crop: the size the whole image is resized to before the crop.
cv::Size crop_scaled_size(int w0, int h0, const ImageConfig& config) {
  const int64_t h = config.height, w = config.width;
  if (h * w0 >= w * h0) return cv::Size(static_cast<int>(std::max<int64_t>(w, w0 * h / h0)), static_cast<int>(h));
  return cv::Size(static_cast<int>(w), static_cast<int>(std::max<int64_t>(h, h0 * w / w0)));
}

}  // namespace

cv::Mat model_image(const cv::Mat& rgb, const ImageConfig& config) {
  TORCH_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, "model_image: expected an 8-bit RGB image, got type ",
              rgb.type());
  switch (config.resize) {
    case ImageResize::kStretch: break;
    case ImageResize::kCenterCrop: {
      const cv::Size scaled = crop_scaled_size(rgb.cols, rgb.rows, config);
      const cv::Mat resized = resize_for_model(rgb, scaled.height, scaled.width, config.resample);
      const cv::Rect centre((scaled.width - static_cast<int>(config.width)) / 2,
                            (scaled.height - static_cast<int>(config.height)) / 2, static_cast<int>(config.width),
                            static_cast<int>(config.height));
      return resized(centre).clone();
    }
    case ImageResize::kPad: {
      const int side = std::max(rgb.rows, rgb.cols);
      const int top = (side - rgb.rows) / 2, left = (side - rgb.cols) / 2;
      const cv::Scalar mean(static_cast<int>(config.mean[0] * 255), static_cast<int>(config.mean[1] * 255),
                            static_cast<int>(config.mean[2] * 255));
      cv::Mat square;
      cv::copyMakeBorder(rgb, square, top, side - rgb.rows - top, left, side - rgb.cols - left, cv::BORDER_CONSTANT,
                         mean);
      return resize_for_model(square, config.height, config.width, config.resample);
    }
  }
  return resize_for_model(rgb, config.height, config.width, config.resample);
}

ImageView model_view(int image_width, int image_height, const ImageConfig& config) {
  TORCH_CHECK(image_width > 0 && image_height > 0, "model_view: expected a positive image size, got ", image_width,
              "x", image_height);
  const double w0 = image_width, h0 = image_height;
  switch (config.resize) {
    case ImageResize::kStretch: break;
    case ImageResize::kCenterCrop: {
      const cv::Size scaled = crop_scaled_size(image_width, image_height, config);
      const double sx = w0 / scaled.width, sy = h0 / scaled.height;
      const double left = (scaled.width - static_cast<int>(config.width)) / 2;
      const double top = (scaled.height - static_cast<int>(config.height)) / 2;
      return {left * sx, top * sy, (left + config.width) * sx, (top + config.height) * sy};
    }
    case ImageResize::kPad: {
      const int side = std::max(image_width, image_height);
      const double left = (side - image_width) / 2, top = (side - image_height) / 2;
      return {-left, -top, side - left, side - top};
    }
  }
  return {0.0, 0.0, w0, h0};
}

at::Tensor image_to_tensor(const cv::Mat& rgb, const ImageConfig& config) {
  TORCH_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, "image_to_tensor: expected an 8-bit RGB image, got type ",
              rgb.type());
  const cv::Mat resized = model_image(rgb, config);
  cv::Mat scaled;
  resized.convertTo(scaled, CV_32FC3, 1.0 / 255.0);
  at::Tensor hwc = at::from_blob(scaled.data, {config.height, config.width, 3}, at::kFloat).clone();
  at::Tensor mean = at::tensor({config.mean[0], config.mean[1], config.mean[2]}, at::kFloat);
  at::Tensor std = at::tensor({config.std[0], config.std[1], config.std[2]}, at::kFloat);
  hwc = (hwc - mean) / std;
  return hwc.permute({2, 0, 1}).unsqueeze(0).contiguous();
}

std::vector<PixelRect> patch_rectangles(int image_width, int image_height, int64_t rows, int64_t cols) {
  TORCH_CHECK(image_width > 0 && image_height > 0 && rows > 0 && cols > 0,
              "patch_rectangles: expected positive sizes, got image ", image_width, "x", image_height, " grid ",
              rows, "x", cols);
  std::vector<PixelRect> rects;
  rects.reserve(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      PixelRect rect;
      rect.y0 = static_cast<int>(r * image_height / rows);
      rect.y1 = static_cast<int>((r + 1) * image_height / rows);
      rect.x0 = static_cast<int>(c * image_width / cols);
      rect.x1 = static_cast<int>((c + 1) * image_width / cols);
      rects.push_back(rect);
    }
  }
  return rects;
}

std::vector<PixelRect> patch_rectangles(int image_width, int image_height, const ImageConfig& config) {
  if (config.resize == ImageResize::kStretch) {
    return patch_rectangles(image_width, image_height, config.grid_rows, config.grid_cols);
  }
  TORCH_CHECK(config.grid_rows > 0 && config.grid_cols > 0, "patch_rectangles: expected a positive grid, got ",
              config.grid_rows, "x", config.grid_cols);
  const ImageView view = model_view(image_width, image_height, config);
  auto edge = [](double begin, double end, int64_t k, int64_t n, int limit) {
    const double at = begin + (end - begin) * static_cast<double>(k) / static_cast<double>(n);
    return static_cast<int>(std::clamp(std::floor(at + 1e-9), 0.0, static_cast<double>(limit)));
  };
  std::vector<PixelRect> rects;
  rects.reserve(config.patches());
  for (int64_t r = 0; r < config.grid_rows; ++r) {
    for (int64_t c = 0; c < config.grid_cols; ++c) {
      PixelRect rect;
      rect.y0 = edge(view.y0, view.y1, r, config.grid_rows, image_height);
      rect.y1 = edge(view.y0, view.y1, r + 1, config.grid_rows, image_height);
      rect.x0 = edge(view.x0, view.x1, c, config.grid_cols, image_width);
      rect.x1 = edge(view.x0, view.x1, c + 1, config.grid_cols, image_width);
      rects.push_back(rect);
    }
  }
  return rects;
}

}  // namespace atman
