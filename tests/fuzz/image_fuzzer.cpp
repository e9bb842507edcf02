// libFuzzer target: the image loader, atman::decode_image_rgb on arbitrary
// bytes (every OpenCV decoder is reachable; the seed corpus has one file of
// each format), and atman::read_image_header on its own.
//
// Properties checked: the header reader returns sizes in [1, 2^31) or
// throws std::runtime_error; decoding returns a non-empty 8-bit RGB image
// within the pixel limit, or throws std::runtime_error with one line that
// names the origin; nothing else escapes.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "atman/io/image.h"
#include "atman/io/image_header.h"

namespace {

// Small, so that the fuzzer does not spend its time decoding huge images;
// the refusal above it is the code under test.
constexpr int64_t kFuzzMaxPixels = int64_t{1} << 20;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

void check_message(const std::exception& e) {
  const std::string what = e.what();
  require(what.rfind("fuzz.img: ", 0) == 0, "message starts with the origin");
  require(what.find('\n') == std::string::npos, "message is one line");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    if (const auto h = atman::read_image_header(bytes, "fuzz.img")) {
      require(h->width >= 1 && h->height >= 1 && h->width < (int64_t{1} << 31) && h->height < (int64_t{1} << 31),
              "header sizes");
      require(h->decoded_bytes() >= h->pixels(), "decoded bytes");
      const int64_t estimate = atman::estimate_decode_bytes(bytes, "fuzz.img");
      require(h->pixels() > atman::kMaxImagePixels ? estimate == 0 : estimate >= h->pixels() * 7, "estimate");
    }
  } catch (const std::runtime_error& e) {
    check_message(e);
  }
  try {
    const cv::Mat rgb = atman::decode_image_rgb(bytes, "fuzz.img", kFuzzMaxPixels);
    require(!rgb.empty() && rgb.type() == CV_8UC3, "8-bit RGB");
    require(static_cast<int64_t>(rgb.rows) * rgb.cols <= kFuzzMaxPixels, "pixel limit");
  } catch (const std::runtime_error& e) {
    check_message(e);
  }
  return 0;
}
