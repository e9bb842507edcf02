// Image headers read without decoding (io/image_header.h): the size of every
// format OpenCV reads, and damaged headers refused with one line.

#include "atman/io/image_header.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::EncodedVariant;
using testing::encoded_variants;
using testing::expect_error;
using testing::kFormats;

TEST(ImageHeaderTest, ReadsTheSizeOfEveryFormatWithoutDecoding) {
  int checked = 0;
  for (const auto& [ext, format] : kFormats) {
    for (const EncodedVariant& v : encoded_variants(ext)) {  // those OpenCV can write as `ext`
      SCOPED_TRACE(ext + " " + v.name);
      const auto header = read_image_header(v.bytes, "x" + ext);
      ASSERT_TRUE(header.has_value());
      EXPECT_EQ(header->format, format);
      EXPECT_EQ(header->width, 53);
      EXPECT_EQ(header->height, 37);
      ++checked;
    }
  }
  EXPECT_GE(checked, 50);
  EXPECT_FALSE(read_image_header("GIF89a....", "x.gif").has_value());  // OpenCV 4.6 reads no GIF
  EXPECT_FALSE(read_image_header("just text", "x.txt").has_value());
}

TEST(ImageHeaderTest, DamagedHeadersAreRefusedWithOneLine) {
  expect_error([] { read_image_header(std::string("\x89PNG\r\n\x1a\n", 8), "a.png"); },
               {"a.png: PNG header is damaged or truncated (no IHDR chunk)"});
  expect_error([] { read_image_header("\xff\xd8\xff\xe0\x00\x10JFIF", "a.jpg"); },
               {"a.jpg: JPEG header is damaged or truncated (no frame header)"});
  expect_error([] { read_image_header("BM\x10\x00", "a.bmp"); }, {"a.bmp: BMP header is damaged or truncated"});
  expect_error([] { read_image_header(std::string("II*\0\xff\xff\xff\x7f", 8), "a.tif"); },
               {"a.tif: TIFF header is damaged or truncated (first directory at 2147483647 is outside the file)"});
  expect_error([] { read_image_header("P6\n# only a comment\n", "a.ppm"); },
               {"a.ppm: PNM header is damaged or truncated (no width and height)"});
  expect_error([] { read_image_header("P5 0 10 255\n", "a.pgm"); },
               {"a.pgm: PNM header is damaged or truncated (image size 0x10)"});
  expect_error([] { read_image_header("P5 99999999999 10 255\n", "a.pgm"); },
               {"a.pgm: PNM header is damaged or truncated (image size 99999999999x10)"});
  expect_error([] { read_image_header("#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n+Z 3 +X 4\n", "a.hdr"); },
               {"a.hdr: Radiance HDR header is damaged or truncated (no resolution line)"});
}

}  // namespace
}  // namespace atman
