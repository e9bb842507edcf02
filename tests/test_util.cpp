// The helpers of test_util.h (and a check of them).
#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <c10/util/Exception.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <random>
#include <sstream>

namespace atman::testing {

TempDir::TempDir() {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("atman_test_" + std::to_string(getpid()) + "_" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
}

std::vector<std::string> RunResult::err_lines() const {
  std::vector<std::string> lines;
  std::stringstream ss(err);
  for (std::string line; std::getline(ss, line);) lines.push_back(line);
  return lines;
}

std::string shell_quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

RunResult run_atman(const std::vector<std::string>& args) { return run_atman_with("", args); }

RunResult run_atman_with(const std::string& prefix, const std::vector<std::string>& args) {
  return run_program(prefix, ATMAN_BINARY, args);
}

RunResult run_program(const std::string& prefix, const std::string& program, const std::vector<std::string>& args) {
  TempDir tmp;
  std::string cmd = prefix + " " + shell_quote(program);
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote(tmp.path("out")) + " 2>" + shell_quote(tmp.path("err")) + " </dev/null";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(tmp.path("out"));
  r.err = read_file(tmp.path("err"));
  return r;
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning " << (parts.empty() ? "" : parts[0]);
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "message: " << what << "\nmissing: " << p;
  } catch (const std::exception& e) {
    const std::string what = e.what();
    for (const auto& p : parts) EXPECT_NE(what.find(p), std::string::npos) << "message: " << what << "\nmissing: " << p;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "message is not one line: " << what;
  }
}

std::string encode(const cv::Mat& m, const std::string& ext) {
  std::vector<uchar> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf)) << ext;
  return std::string(buf.begin(), buf.end());
}

std::vector<EncodedVariant> encoded_variants(const std::string& ext) {
  cv::Mat bgr(37, 53, CV_8UC3);
  cv::randu(bgr, 0, 255);
  cv::Mat gray, bgra, g16, c16, f32;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  gray.convertTo(g16, CV_16U, 257);
  bgr.convertTo(c16, CV_16U, 257);
  bgr.convertTo(f32, CV_32F, 1 / 255.0);
  std::vector<EncodedVariant> out;
  for (const auto& [name, mat] : std::vector<std::pair<const char*, cv::Mat>>{
           {"rgb", bgr}, {"gray", gray}, {"alpha", bgra}, {"gray16", g16}, {"rgb16", c16}, {"float", f32}}) {
    std::vector<uchar> buf;
    bool written = false;
    try {
      written = cv::imencode(ext, mat, buf);
    } catch (const cv::Exception&) {
      written = false;
    }
    if (written) out.push_back({name, mat, std::string(buf.begin(), buf.end())});
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>> kFormats = {
    {".png", "PNG"},   {".jpg", "JPEG"},        {".bmp", "BMP"},     {".tiff", "TIFF"},
    {".webp", "WebP"}, {".jp2", "JPEG 2000"},   {".ppm", "PNM"},     {".pgm", "PNM"},
    {".pbm", "PNM"},   {".pam", "PAM"},         {".pfm", "PFM"},     {".sr", "Sun raster"},
    {".hdr", "Radiance HDR"}, {".exr", "OpenEXR"}};

Explanation grid_explanation(int rows, int cols, const std::function<double(int, int)>& value) {
  Explanation e;
  e.model = "test-model";
  e.prompt = "Question: What color is the <circle> & co? Answer:";
  e.target = " red";
  e.image_grid = std::make_pair<int64_t, int64_t>(rows, cols);
  e.targets = {{7, "\u2581red", 0.25}};
  int64_t index = 0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      ExplainedUnit u;
      u.index = index;
      u.members = {index};
      ++index;
      u.kind = PositionKind::kImage;
      u.patch_row = r;
      u.patch_col = c;
      u.relevance = value(r, c);
      u.per_target = {u.relevance};
      e.units.push_back(u);
    }
  }
  const std::vector<std::pair<std::string, double>> tokens = {
      {"<s>", 0.01}, {"\u2581Question", 0.2}, {":", -0.3}, {"\u2581<circle>", 0.9}, {"\u2581&", 0.4}, {"\u2581co", 0.05}};
  for (const auto& [piece, relevance] : tokens) {
    ExplainedUnit u;
    u.index = index;
    u.members = {index};
    ++index;
    u.kind = PositionKind::kText;
    u.token_id = 100 + index;
    u.piece = piece;
    u.relevance = relevance;
    u.per_target = {relevance};
    e.units.push_back(u);
  }
  return e;
}

cv::Mat gray_image(int width, int height) { return cv::Mat(height, width, CV_8UC3, cv::Scalar(128, 128, 128)); }

TEST(UtilTest, RunAtmanCapturesExitCodeAndStreams) {
  RunResult r = run_atman({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("atman"), std::string::npos);
}

}  // namespace atman::testing
