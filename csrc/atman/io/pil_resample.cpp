#include "atman/io/pil_resample.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <c10/util/Exception.h>

namespace atman {
namespace {

// Pillow keeps 2 bits of headroom above the 8 bits of the result.
constexpr int kPrecisionBits = 32 - 8 - 2;

double box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming(double x) {
  x = std::fabs(x);
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x *= M_PI;
  // Pillow writes the window's constants as float literals.
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}

double cubic(double x) {  // Keys' cubic convolution, a = -0.5
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x *= M_PI;
  return std::sin(x) / x;
}

double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

struct Filter {
  double (*weight)(double);
  double support;
};

Filter filter_of(PilFilter f) {
  switch (f) {
    case PilFilter::kBox: return {box, 0.5};
    case PilFilter::kBilinear: return {triangle, 1.0};
    case PilFilter::kHamming: return {hamming, 1.0};
    case PilFilter::kBicubic: return {cubic, 2.0};
    case PilFilter::kLanczos: return {lanczos, 3.0};
  }
  return {cubic, 2.0};
}

// For each output sample along one axis: the first input sample, how many
// are read, and their fixed-point weights (`taps` per output sample).
struct Taps {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weight;
};

Taps compute_taps(int in_size, int out_size, const Filter& filter) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);  // reductions widen the support
  const double support = filter.support * filter_scale;
  Taps t;
  t.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weight.assign(static_cast<size_t>(out_size) * t.taps, 0);
  std::vector<double> w(t.taps);
  for (int o = 0; o < out_size; ++o) {
    const double centre = (o + 0.5) * scale;
    // Bounds rounded by truncation after adding 0.5, as Pillow does.
    const int lo = std::max(static_cast<int>(centre - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(centre + support + 0.5), in_size);
    const int n = hi - lo;
    const double inverse = 1.0 / filter_scale;  // multiplied, not divided: Pillow's rounding
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      w[i] = filter.weight((i + lo - centre + 0.5) * inverse);
      sum += w[i];
    }
    for (int i = 0; i < n; ++i) {
      const double normalised = sum != 0.0 ? w[i] / sum : w[i];
      const double fixed = normalised * (1 << kPrecisionBits);
      t.weight[static_cast<size_t>(o) * t.taps + i] = static_cast<int32_t>(normalised < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    t.first[o] = lo;
    t.count[o] = n;
  }
  return t;
}

uint8_t clip8(int64_t accumulated) {
  const int64_t v = accumulated >> kPrecisionBits;  // floor, also for negative sums
  return static_cast<uint8_t>(std::clamp<int64_t>(v, 0, 255));
}

// One pass along rows (horizontal) or columns (vertical), 3 channels.
cv::Mat resample_axis(const cv::Mat& in, int out_size, bool horizontal, const Filter& filter) {
  const int in_size = horizontal ? in.cols : in.rows;
  const Taps t = compute_taps(in_size, out_size, filter);
  cv::Mat out(horizontal ? in.rows : out_size, horizontal ? out_size : in.cols, CV_8UC3);
  constexpr int64_t kHalf = int64_t{1} << (kPrecisionBits - 1);
  for (int y = 0; y < out.rows; ++y) {
    uint8_t* dst = out.ptr<uint8_t>(y);
    for (int x = 0; x < out.cols; ++x) {
      const int o = horizontal ? x : y;
      const int32_t* k = &t.weight[static_cast<size_t>(o) * t.taps];
      int64_t sum[3] = {kHalf, kHalf, kHalf};
      for (int i = 0; i < t.count[o]; ++i) {
        const int src = t.first[o] + i;
        const uint8_t* p = horizontal ? in.ptr<uint8_t>(y) + 3 * src : in.ptr<uint8_t>(src) + 3 * x;
        for (int c = 0; c < 3; ++c) sum[c] += static_cast<int64_t>(p[c]) * k[i];
      }
      for (int c = 0; c < 3; ++c) dst[3 * x + c] = clip8(sum[c]);
    }
  }
  return out;
}

}  // namespace

cv::Mat pil_resize(const cv::Mat& rgb, int64_t height, int64_t width, PilFilter filter) {
  TORCH_CHECK(!rgb.empty() && rgb.type() == CV_8UC3, "pil_resize: expected an 8-bit RGB image, got type ",
              rgb.type());
  TORCH_CHECK(height > 0 && width > 0 && height <= 65536 && width <= 65536,
              "pil_resize: expected a target size in 1..65536, got ", height, "x", width);
  const Filter f = filter_of(filter);
  cv::Mat out = rgb;
  // Pillow: the horizontal pass first (rounded to 8 bits), then the vertical one.
  if (width != rgb.cols) out = resample_axis(out, static_cast<int>(width), true, f);
  if (height != rgb.rows) out = resample_axis(out, static_cast<int>(height), false, f);
  return out.data == rgb.data ? rgb.clone() : out;
}

}  // namespace atman
