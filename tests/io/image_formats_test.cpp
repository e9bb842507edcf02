// Hostile images below the command line (io/image.h): decoding every format
// and pixel layout, huge headers refused before decoding, DICOM, truncated
// files, devices and oversized files, the decode-memory estimate.

#include "atman/io/image.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/image_header.h"
#include "atman/runtime/resource_limits.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::encode;
using testing::EncodedVariant;
using testing::encoded_variants;
using testing::expect_error;
using testing::kFormats;

// A PNG of a few bytes whose header claims `width` x `height` pixels.
std::string png_claiming(uint32_t width, uint32_t height) {
  cv::Mat tiny(1, 1, CV_8UC3, cv::Scalar(1, 2, 3));
  std::string png = encode(tiny, ".png");
  for (int i = 0; i < 4; ++i) {
    png[16 + i] = static_cast<char>(width >> (24 - 8 * i));
    png[20 + i] = static_cast<char>(height >> (24 - 8 * i));
  }
  return png;  // the IHDR CRC no longer matches: only the header reader may look at it
}

TEST(ImageLimitTest, HugeHeaderIsRefusedBeforeDecoding) {
  expect_error([] { decode_image_rgb(png_claiming(30000, 30000), "huge.png"); },
               {"huge.png: PNG header says 30000x30000 pixels, more than the limit of 67108864 pixels "
                "(refused before decoding)"});
  // 8192 x 8192 is the limit itself: not refused by the header check (it then fails to decode).
  expect_error([] { decode_image_rgb(png_claiming(8192, 8192), "limit.png"); },
               {"limit.png: not an image OpenCV can decode (PNG data is corrupt or truncated)"});
  expect_error([] { decode_image_rgb(png_claiming(200, 100), "small.png", 10000); },
               {"small.png: PNG header says 200x100 pixels, more than the limit of 10000 pixels"});
}

// OpenCV hands anything with "DICM" at byte 128 to GDCM, which aborted the
// process on the image fuzzer's input (a JPEG 2000 signature first): refused.
TEST(ImageFormatTest, DicomIsRefusedBeforeOpenCvSeesIt) {
  const std::string dicom = std::string(128, '\0') + "DICM" + std::string(64, '\x02');
  expect_error([&] { decode_image_rgb(dicom, "scan.dcm"); },
               {"scan.dcm: DICOM data (\"DICM\" at byte 128) is not accepted: OpenCV's DICOM decoder aborts the "
                "process on malformed files"});
  const std::string found = testing::read_file(
      testing::source_path("tests/fuzz/regressions/image/dicom_in_jp2_gdcm_assert_abort"));
  expect_error([&] { decode_image_rgb(found, "fuzz"); }, {"fuzz: DICOM data"});
  // Fewer than 132 bytes, or the tag elsewhere: not DICOM.
  expect_error([] { decode_image_rgb(std::string(100, '\0') + "DICM", "short"); }, {"short: not an image"});
}

TEST(ImageLimitTest, HugeHeaderAllocatesNothing) {
  if (testing::kUnderAddressSanitizer) {
    GTEST_SKIP() << "under AddressSanitizer: its shadow memory reserves terabytes of address space, so "
                    "an address-space limit cannot tell our check from a failed allocation";
  }
  // In a child limited to 512 MB of address space more than it has now, the
  // 30000 x 30000 header (2.7 GB of pixels) must be refused by our check,
  // not by a failed allocation.
  const std::string png = png_claiming(30000, 30000);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    long long vm_kb = 0;
    if (FILE* f = std::fopen("/proc/self/status", "r")) {
      char line[256];
      while (std::fgets(line, sizeof(line), f)) std::sscanf(line, "VmSize: %lld kB", &vm_kb);
      std::fclose(f);
    }
    const rlim_t limit = static_cast<rlim_t>(vm_kb) * 1024 + (rlim_t{512} << 20);
    const rlimit rl{limit, limit};
    if (vm_kb == 0 || setrlimit(RLIMIT_AS, &rl) != 0) _exit(10);
    try {
      decode_image_rgb(png, "huge.png");
      _exit(11);
    } catch (const std::runtime_error& e) {
      _exit(std::string(e.what()).find("refused before decoding") != std::string::npos ? 0 : 12);
    } catch (...) {
      _exit(13);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ImageFormatTest, DecodesEveryFormatAndLayoutToRgb8) {
  int decoded = 0;
  for (const auto& [ext, format] : kFormats) {
    if (ext == ".exr") continue;  // OpenCV decodes OpenEXR only when asked (next test)
    for (const EncodedVariant& v : encoded_variants(ext)) {  // those OpenCV can write as `ext`
      // OpenCV 4.6 writes PAM files with alpha or 16 bits that its own PAM reader refuses.
      if (ext == ".pam" && (v.mat.channels() == 4 || v.mat.depth() == CV_16U)) continue;
      SCOPED_TRACE(ext + " " + v.name);
      const cv::Mat rgb = decode_image_rgb(v.bytes, "x" + ext);
      EXPECT_EQ(rgb.type(), CV_8UC3);
      EXPECT_EQ(rgb.cols, 53);
      EXPECT_EQ(rgb.rows, 37);
      ++decoded;
    }
  }
  EXPECT_GE(decoded, 45);
}

TEST(ImageFormatTest, OpenExrIsRefusedUnlessEnabled) {
  cv::Mat f(5, 7, CV_32FC3, cv::Scalar(0.25, 0.5, 1.0));
  const std::string exr = encode(f, ".exr");
  const char* before = std::getenv("OPENCV_IO_ENABLE_OPENEXR");
  if (before == nullptr) {
    expect_error([&] { decode_image_rgb(exr, "x.exr"); },
                 {"x.exr: OpenEXR decoding is disabled in OpenCV (set OPENCV_IO_ENABLE_OPENEXR=1 to allow it)"});
  }
}

TEST(ImageFormatTest, TruncatedFilesOfEveryFormatAreRefused) {
  cv::Mat bgr(40, 60, CV_8UC3);
  cv::randu(bgr, 0, 255);
  for (const char* ext : {".png", ".jpg", ".bmp", ".tiff", ".webp", ".jp2", ".ppm", ".pgm", ".pfm", ".sr", ".hdr"}) {
    SCOPED_TRACE(ext);
    cv::Mat m = bgr;
    if (std::string(ext) == ".pgm") cv::cvtColor(bgr, m, cv::COLOR_BGR2GRAY);
    const std::string whole = encode(m, ext);
    const std::string cut = whole.substr(0, whole.size() / 2);
    try {
      decode_image_rgb(cut, std::string("cut") + ext);
      ADD_FAILURE() << "a truncated file decoded";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_TRUE(what.find("truncated") != std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
}

TEST(ImageFileTest, RefusesDevicesAndOversizedFiles) {
  expect_error([] { read_image_rgb("/dev/zero"); }, {"/dev/zero: image path is not a regular file"});
  testing::TempDir tmp;
  const std::string big = tmp.path("big.png");
  {
    std::FILE* f = std::fopen(big.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("\x89PNG", f);
    ASSERT_EQ(ftruncate(fileno(f), kMaxImageFileBytes + 1), 0);  // sparse: takes no disk space
    std::fclose(f);
  }
  expect_error([&] { read_image_rgb(big); },
               {big + ": image file is 1073741825 bytes, more than the limit of 1073741824 bytes"});
}

TEST(ImageFileTest, EstimatesDecodeMemoryFromTheHeader) {
  EXPECT_EQ(estimate_decode_bytes(png_claiming(1000, 500), "x.png"), 1000 * 500 * (3 + 6));
  EXPECT_EQ(estimate_decode_bytes("not an image", "x"), 0);
}

}  // namespace
}  // namespace atman
