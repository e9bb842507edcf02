#include "atman/image.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

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

}  // namespace

cv::Mat read_image_rgb(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::runtime_error(path + ": image file not found");
  if (fs::is_directory(path, ec)) throw std::runtime_error(path + ": image path is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": image file cannot be read");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(path + ": image file cannot be read");
  return decode_image_rgb(bytes, path);
}

cv::Mat decode_image_rgb(const std::string& bytes, const std::string& origin) {
  if (bytes.empty()) throw std::runtime_error(origin + ": image file is empty");
  check_not_truncated(bytes, origin);
  cv::Mat decoded;
  try {
    const cv::Mat buffer(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    decoded = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw std::runtime_error(fmt::format("{}: image could not be decoded ({})", origin, e.msg));
  }
  if (decoded.empty()) {
    throw std::runtime_error(origin + ": not an image OpenCV can decode (unknown format, corrupt or truncated)");
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

at::Tensor image_to_tensor(const cv::Mat& rgb, const ImageConfig& config) {
  TORCH_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, "image_to_tensor: expected an 8-bit RGB image, got type ",
              rgb.type());
  const cv::Mat resized = resize_for_model(rgb, config.height, config.width);
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

}  // namespace atman
