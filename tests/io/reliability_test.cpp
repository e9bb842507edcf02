// Hostile inputs below the command line: image headers of every format
// OpenCV reads, decoding every format (grayscale, 16-bit, alpha), huge
// headers refused before decoding, memory estimates, the interruption
// registry, and regressions found by the fuzzers (tests/fuzz/regressions/).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/core/sweep_memory.h"
#include "atman/io/image.h"
#include "atman/io/image_header.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/runtime/resource_limits.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

std::string encode(const cv::Mat& m, const std::string& ext) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf)) << ext;
  return std::string(buf.begin(), buf.end());
}

// Pixel layouts of the test images: 8-bit colour, grayscale, colour with
// alpha, 16-bit grayscale, 16-bit colour, float colour.
struct Variant {
  const char* name;
  cv::Mat mat;
};
std::vector<Variant> variants() {
  cv::Mat bgr(37, 53, CV_8UC3);
  cv::randu(bgr, 0, 255);
  cv::Mat gray, bgra, g16, c16, f32;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  gray.convertTo(g16, CV_16U, 257);
  bgr.convertTo(c16, CV_16U, 257);
  bgr.convertTo(f32, CV_32F, 1 / 255.0);
  return {{"rgb", bgr}, {"gray", gray}, {"alpha", bgra}, {"gray16", g16}, {"rgb16", c16}, {"float", f32}};
}

// Every format OpenCV 4.6 decodes and can also write (GDAL, only reached
// through imread flags, is not used).
const std::vector<std::pair<std::string, std::string>> kFormats = {
    {".png", "PNG"},   {".jpg", "JPEG"},        {".bmp", "BMP"},     {".tiff", "TIFF"},
    {".webp", "WebP"}, {".jp2", "JPEG 2000"},   {".ppm", "PNM"},     {".pgm", "PNM"},
    {".pbm", "PNM"},   {".pam", "PAM"},         {".pfm", "PFM"},     {".sr", "Sun raster"},
    {".hdr", "Radiance HDR"}, {".exr", "OpenEXR"}};

TEST(ImageHeaderTest, ReadsTheSizeOfEveryFormatWithoutDecoding) {
  int checked = 0;
  for (const auto& [ext, format] : kFormats) {
    for (const Variant& v : variants()) {
      std::vector<uchar> buf;
      bool written = false;
      try {
        written = cv::imencode(ext, v.mat, buf);
      } catch (const cv::Exception&) {
        written = false;  // e.g. .exr takes float only, .pbm 8-bit only
      }
      if (!written) continue;
      SCOPED_TRACE(ext + " " + v.name);
      const auto header = read_image_header(std::string(buf.begin(), buf.end()), "x" + ext);
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

#if defined(__SANITIZE_ADDRESS__)
TEST(ImageLimitTest, DISABLED_HugeHeaderAllocatesNothing) {}  // ASan reserves terabytes of address space
#else
TEST(ImageLimitTest, HugeHeaderAllocatesNothing) {
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
#endif

TEST(ImageFormatTest, DecodesEveryFormatAndLayoutToRgb8) {
  int decoded = 0;
  for (const auto& [ext, format] : kFormats) {
    if (ext == ".exr") continue;  // OpenCV decodes OpenEXR only when asked (next test)
    for (const Variant& v : variants()) {
      std::vector<uchar> buf;
      bool written = false;
      try {
        written = cv::imencode(ext, v.mat, buf);
      } catch (const cv::Exception&) {
        written = false;
      }
      if (!written) continue;
      // OpenCV 4.6 writes PAM files with alpha or 16 bits that its own PAM reader refuses.
      if (ext == ".pam" && (v.mat.channels() == 4 || v.mat.depth() == CV_16U)) continue;
      SCOPED_TRACE(ext + " " + v.name);
      const cv::Mat rgb = decode_image_rgb(std::string(buf.begin(), buf.end()), "x" + ext);
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

// --- memory budget -------------------------------------------------------------

TEST(MemoryBudgetTest, RefusesWhatDoesNotFitWithOneLine) {
  const MemoryBudget tiny(1);  // 1 MB: the process alone holds more
  EXPECT_TRUE(tiny.explicit_limit());
  EXPECT_EQ(tiny.remaining_bytes(), 0);
  expect_error([&] { tiny.require(10 << 20, "loading the model m.pt"); },
               {"loading the model m.pt needs about 10 MB more, but --max-memory 1 MB leaves 0 MB (the process holds "});
  const MemoryBudget roomy(1 << 20);  // 1 TB
  EXPECT_NO_THROW(roomy.require(1 << 30, "a gigabyte"));
  const MemoryBudget machine(0);
  EXPECT_FALSE(machine.explicit_limit());
  expect_error([&] { machine.require(int64_t{1} << 60, "the sweep"); },
               {"the sweep needs about 1099511627776 MB more, but this machine has only "});
  expect_error([] { MemoryBudget(-5); }, {"max memory must be >= 0 MB, got -5"});
}

TEST(MemoryBudgetTest, SweepEstimateGrowsWithLengthAndSaturates) {
  ModelConfig c;
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.num_heads = 4;
  c.num_layers = 2;
  const SweepMemory short_sweep = estimate_sweep_memory(c, 100, 100, 2, true, true);
  const SweepMemory long_sweep = estimate_sweep_memory(c, 1000, 1000, 2, true, true);
  EXPECT_GT(long_sweep.per_row_bytes, 20 * short_sweep.per_row_bytes);  // attention is quadratic
  EXPECT_LT(estimate_sweep_memory(c, 100, 100, 2, false, true).per_row_bytes, short_sweep.per_row_bytes);
  c.vocab_size = int64_t{1} << 40;  // a hostile config: no overflow, just "too much"
  c.hidden_size = int64_t{1} << 40;
  const SweepMemory huge = estimate_sweep_memory(c, 1 << 20, 1 << 20, 1 << 20, true, true);
  EXPECT_GT(huge.per_row_bytes, int64_t{1} << 50);
  EXPECT_GT(huge.bytes(32), 0);
  const MemoryBudget budget(1024);
  EXPECT_EQ(budget.largest_batch(huge, 32), 0);
}

// --- sequences without a model (what the prompt fuzzer drives) ----------------

TEST(SequenceFromConfigTest, CountsTheImagePrefixAgainstMaxPositions) {
  const auto model = Model::load(testing::test_model("text_only.pt"));
  ModelConfig c = model->config();
  c.max_positions = 25;
  const Sequence s = build_sequence(c, model->tokenizer(), "hello there", " x", 10);
  EXPECT_EQ(s.length(), 10 + static_cast<int64_t>(s.prompt_ids.size() + s.target_ids.size()) - 1);
  expect_error([&] { build_sequence(c, model->tokenizer(), "hello there", " x", 19); },
               {"exceeds the model's max_positions 25", "(19 image + "});
}

// --- fuzzer regressions ---------------------------------------------------------

// Every file in tests/fuzz/regressions/<target>/ once crashed or hung a
// fuzzer; each must now be handled (a result or a one-line error).
TEST(FuzzRegressionTest, ImageInputs) {
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/image");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no image regressions";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    const std::string bytes = testing::read_file(entry.path().string());
    try {
      const cv::Mat rgb = decode_image_rgb(bytes, "regression", int64_t{1} << 20);
      EXPECT_EQ(rgb.type(), CV_8UC3);
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

TEST(FuzzRegressionTest, ConfigInputs) {
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/config");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no config regressions";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    try {
      parse_model_config(testing::read_file(entry.path().string()), "regression");
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    }
  }
}

TEST(FuzzRegressionTest, PromptInputs) {
  // Decoded as tests/fuzz/prompt_fuzzer.cpp does: byte 0 image prefix and
  // add_bos, byte 1 max_positions, then "prompt\0target".
  const std::filesystem::path dir = testing::source_path("tests/fuzz/regressions/prompt");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "no prompt regressions";
  const auto model = Model::load(testing::test_model("text_only.pt"));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    SCOPED_TRACE(entry.path().string());
    const std::string bytes = testing::read_file(entry.path().string());
    if (bytes.size() < 2) continue;
    ModelConfig c = model->config();
    c.max_positions = 2 + static_cast<unsigned char>(bytes[1]);
    c.add_bos = (static_cast<unsigned char>(bytes[0]) & 0x80) != 0;
    const std::string rest = bytes.substr(2);
    const size_t split = rest.find('\0');
    const std::string prompt = rest.substr(0, split);
    const std::string target = split == std::string::npos ? std::string(" x") : rest.substr(split + 1);
    try {
      const Sequence s = build_sequence(c, model->tokenizer(), prompt, target, bytes[0] & 0x7f);
      EXPECT_LE(s.length(), c.max_positions);
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

TEST(FuzzRegressionTest, TargetOfControlCharactersIsQuotedOnOneLine) {
  const auto model = Model::load(testing::test_model("text_only.pt"));
  expect_error([&] { build_sequence(*model, "hello", "\n\n\x02\n", 0); }, {"target \"\\n\\n\\x02\\n\" gives no tokens"});
}

TEST(FuzzRegressionTest, ConfigNumberTooLargeIsNotValidJson) {
  expect_error([] { parse_model_config(R"({"contract": 84e6715164097103899})", "m.pt"); },
               {"m.pt: atman/config.json is not valid JSON ([json.exception.out_of_range.406] number overflow"});
  expect_error([] { parse_model_config(R"({"contract": 1, "name": "two\nlines"})", "m.pt"); },
               {"m.pt: atman/config.json: \"name\" must not contain control characters, got \"two\\nlines\""});
}

}  // namespace
}  // namespace atman
