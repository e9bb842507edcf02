// Tests of the human outputs: overlay PNG, HTML report, terminal summary, and
// the atomic file writer they all go through.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/atomic_file.h"
#include "atman/render/html_report.h"
#include "atman/render/overlay.h"
#include "atman/render/terminal_report.h"

namespace atman {
namespace {

namespace fs = std::filesystem;

// A fresh, empty folder removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("atman_render_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// An explanation with a rows x cols patch grid whose relevance is given by
// `value(r, c)`, then a few text tokens.
template <typename F>
Explanation grid_explanation(int rows, int cols, F value) {
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

// Position of `rgb` on the colour map: the index 0..255 of its nearest entry.
int colour_map_level(const cv::Vec3b& rgb, ColourMap map) {
  int best = 0;
  double best_distance = std::numeric_limits<double>::max();
  for (int level = 0; level < 256; ++level) {
    const cv::Vec3b entry = colour_of(level / 255.0, map);
    const double distance = cv::norm(cv::Vec3d(entry) - cv::Vec3d(rgb));
    if (distance < best_distance) {
      best_distance = distance;
      best = level;
    }
  }
  return best;
}

// Level 0..255 whose blend over a uniform `gray` image best explains `rgb`.
int blended_level(const cv::Vec3b& rgb, double gray, const OverlayOptions& options) {
  int best = 0;
  double best_distance = std::numeric_limits<double>::max();
  for (int level = 0; level < 256; ++level) {
    const double v = level / 255.0;
    const double a = options.min_alpha + (options.max_alpha - options.min_alpha) * v;
    const cv::Vec3d expected = cv::Vec3d(gray, gray, gray) * (1.0 - a) + cv::Vec3d(colour_of(v, options.colour_map)) * a;
    const double distance = cv::norm(expected - cv::Vec3d(rgb));
    if (distance < best_distance) {
      best_distance = distance;
      best = level;
    }
  }
  return best;
}

// Centre pixel of patch (r, c) of a rows x cols grid over `image`.
cv::Vec3b patch_centre(const cv::Mat& image, int rows, int cols, int r, int c) {
  const int x = static_cast<int>((c + 0.5) * image.cols / cols);
  const int y = static_cast<int>((r + 0.5) * image.rows / rows);
  return image.at<cv::Vec3b>(y, x);
}

cv::Mat gray_image(int width, int height) { return cv::Mat(height, width, CV_8UC3, cv::Scalar(128, 128, 128)); }

// ---- overlay ------------------------------------------------------------------

TEST(RenderOverlay, PngDecodesWithTheOriginalsSize) {
  const auto e = grid_explanation(12, 12, [](int r, int c) { return std::sin(r * 0.7) + std::cos(c * 0.3); });
  for (const cv::Size size : {cv::Size(96, 96), cv::Size(640, 480), cv::Size(37, 211), cv::Size(32, 32),
                              cv::Size(1, 1), cv::Size(2000, 1500)}) {
    const std::string png = render_overlay_png(e, gray_image(size.width, size.height),
                                               overlay_caption("What color is the circle?", " red"));
    const cv::Mat decoded = cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(decoded.empty()) << size;
    EXPECT_EQ(decoded.size(), size);
    EXPECT_EQ(decoded.type(), CV_8UC3);
  }
}

TEST(RenderOverlay, MostRelevantPatchIsWarmestOnTheColourMap) {
  // Peak at patch (2, 2), least relevant at (9, 1); away from bar and caption.
  const auto e = grid_explanation(12, 12, [](int r, int c) {
    if (r == 9 && c == 1) return -2.0;
    return 3.0 * std::exp(-((r - 2) * (r - 2) + (c - 2) * (c - 2)) / 4.0);
  });
  for (ColourMap map : {ColourMap::kTurbo, ColourMap::kViridis}) {
    OverlayOptions opaque;
    opaque.colour_map = map;
    opaque.min_alpha = opaque.max_alpha = 1.0;  // pure colour map: levels can be read back
    const cv::Mat pure = render_overlay(e, gray_image(192, 192), "", opaque);
    const int hot = colour_map_level(patch_centre(pure, 12, 12, 2, 2), map);
    const int cold = colour_map_level(patch_centre(pure, 12, 12, 9, 1), map);
    EXPECT_GE(hot, 240);
    EXPECT_LE(cold, 10);

    // With the default blend over a gray image the levels read back the same way.
    OverlayOptions blended;
    blended.colour_map = map;
    const cv::Mat out = render_overlay(e, gray_image(192, 192), "Q: x\nA: y", blended);
    EXPECT_GE(blended_level(patch_centre(out, 12, 12, 2, 2), 128, blended), 240);
    EXPECT_LE(blended_level(patch_centre(out, 12, 12, 9, 1), 128, blended), 10);
  }
  // Viridis' lightness rises with relevance.
  OverlayOptions viridis;
  viridis.colour_map = ColourMap::kViridis;
  cv::Mat gray;
  cv::cvtColor(render_overlay(e, gray_image(192, 192), "", viridis), gray, cv::COLOR_RGB2GRAY);
  EXPECT_GT(gray.at<uchar>(40, 40), gray.at<uchar>(152, 24));
}

TEST(RenderOverlay, NoPositiveRelevanceGivesTheBottomColourWithoutDivisionByZero) {
  // All <= 0: normalised map all 0, max 0.
  const auto negative = grid_explanation(6, 6, [](int r, int c) { return -1.0 - r - c; });
  double max_relevance = -1.0;
  const cv::Mat normalised = normalise_relevance(relevance_grid(negative), &max_relevance);
  EXPECT_EQ(max_relevance, 0.0);
  EXPECT_EQ(cv::countNonZero(normalised), 0);

  OverlayOptions plain;
  plain.colour_bar = false;
  plain.min_alpha = plain.max_alpha = 1.0;
  const cv::Mat out = render_overlay(negative, gray_image(64, 64), "", plain);
  // Without a caption requested there is still the "(no positive relevance)"
  // note strip; the upper half is uniformly the map's bottom colour.
  const cv::Vec3b bottom = colour_of(0.0, ColourMap::kTurbo);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 64; ++x) ASSERT_EQ(out.at<cv::Vec3b>(y, x), bottom) << x << "," << y;
  }

  // NaN and infinity count as 0; all-zero is handled like all-negative.
  const auto odd = grid_explanation(6, 6, [](int r, int c) {
    if (r == 0) return std::numeric_limits<double>::quiet_NaN();
    if (r == 1) return std::numeric_limits<double>::infinity();
    return c == 3 ? 0.5 : 0.0;
  });
  const cv::Mat grid = relevance_grid(odd);
  EXPECT_EQ(grid.at<double>(0, 0), 0.0);
  EXPECT_EQ(grid.at<double>(1, 0), 0.0);
  const cv::Mat odd_normalised = normalise_relevance(grid, &max_relevance);
  EXPECT_EQ(max_relevance, 0.5);
  EXPECT_FLOAT_EQ(odd_normalised.at<float>(3, 3), 1.0f);
  const auto zero = grid_explanation(6, 6, [](int, int) { return 0.0; });
  const std::string png = render_overlay_png(zero, gray_image(50, 40), "Q: a\nA: b");
  EXPECT_FALSE(cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_COLOR).empty());
}

TEST(RenderOverlay, AcceptsGrayAndRgbaAndScales) {
  const auto e = grid_explanation(4, 4, [](int r, int c) { return r * 4 + c; });
  cv::Mat gray(50, 70, CV_8UC1, cv::Scalar(100));
  cv::Mat rgba(50, 70, CV_8UC4, cv::Scalar(10, 20, 30, 255));
  EXPECT_EQ(render_overlay(e, gray, "").size(), cv::Size(70, 50));
  EXPECT_EQ(render_overlay(e, rgba, "").size(), cv::Size(70, 50));
  OverlayOptions twice;
  twice.scale = 2.0;
  EXPECT_EQ(render_overlay(e, rgba, "caption", twice).size(), cv::Size(140, 100));
}

TEST(RenderOverlay, RejectsBadInputWithAMessage) {
  auto text_only = grid_explanation(2, 2, [](int, int) { return 1.0; });
  text_only.image_grid.reset();
  try {
    render_overlay(text_only, gray_image(10, 10), "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "relevance_grid: the explanation has no image grid (text-only input)");
  }
  auto outside = grid_explanation(2, 2, [](int, int) { return 1.0; });
  outside.units[3].patch_row = 5;
  try {
    relevance_grid(outside);
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "relevance_grid: patch (5, 1) of position 3 lies outside the [2, 2] grid");
  }
  const auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  try {
    render_overlay(e, cv::Mat(), "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "render_overlay: the original image is empty");
  }
  try {
    render_overlay(e, cv::Mat(8, 8, CV_32FC3), "");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "render_overlay: expected an 8-bit image, got depth 5 with 3 channels");
  }
}

TEST(RenderOverlay, PerTargetSelection) {
  auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  e.targets.push_back({8, "\u2581berry", 0.5});
  for (auto& unit : e.units) unit.per_target = {0.25 * unit.index, 1.0 - 0.25 * unit.index};
  const cv::Mat first = relevance_grid(e, 0), second = relevance_grid(e, 1);
  EXPECT_DOUBLE_EQ(first.at<double>(1, 1), 0.75);
  EXPECT_DOUBLE_EQ(second.at<double>(1, 1), 0.25);
  EXPECT_THROW(relevance_grid(e, 2), std::invalid_argument);
}

TEST(RenderOverlay, CaptionHelper) {
  EXPECT_EQ(overlay_caption("What color is the circle?", " red "), "Q: What color is the circle?\nA: red");
}

TEST(RenderOverlay, WritesAtomicallyAndNamesTheOverlayOnFailure) {
  TempDir dir;
  const auto e = grid_explanation(3, 3, [](int r, int c) { return r + c; });
  write_overlay_png(e, gray_image(60, 60), "Q: a\nA: b", dir.file("overlay.png"));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"overlay.png"});
  EXPECT_EQ(cv::imread(dir.file("overlay.png")).size(), cv::Size(60, 60));
  try {
    write_overlay_png(e, gray_image(60, 60), "", "/nonexistent-atman-folder/x.png");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "cannot write overlay: /nonexistent-atman-folder/x.png: No such file or directory");
  }
}

// ---- HTML -------------------------------------------------------------------------

TEST(RenderHtml, ContainsEveryTokenEscaped) {
  const auto e = grid_explanation(3, 3, [](int r, int c) { return r - c; });
  const cv::Mat image = gray_image(48, 48);
  const std::string html = render_html_report(e, &image);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  for (const auto& unit : e.units) {
    if (unit.kind == PositionKind::kImage) continue;
    EXPECT_NE(html.find(">" + html_escape(display_piece(unit.piece)) + "</span>"), std::string::npos) << unit.piece;
  }
  EXPECT_NE(html.find("&lt;s&gt;"), std::string::npos);
  EXPECT_NE(html.find(" &lt;circle&gt;"), std::string::npos);
  EXPECT_NE(html.find(" &amp;</span>"), std::string::npos);
  EXPECT_EQ(html.find("<circle>"), std::string::npos);
  EXPECT_EQ(html.find("<s>"), std::string::npos);
  EXPECT_NE(html.find("data:image/png;base64,"), std::string::npos);
  // Hover text carries the relevance and the per-target values.
  EXPECT_NE(html.find("title=\"text \u201c &lt;circle&gt;\u201d (position 12)&#10;R = 0.9&#10;R[\u201c red\u201d] = 0.9\""),
            std::string::npos);
}

TEST(RenderHtml, TextOnlyAndHostileStrings) {
  auto e = grid_explanation(1, 1, [](int, int) { return 0.0; });
  e.image_grid.reset();
  e.units.erase(e.units.begin());
  e.prompt = "a \"quoted\" 'prompt' <script>alert(1)</script>";
  e.units.back().piece = std::string("bad\x1b[31m\xff");
  const std::string html = render_html_report(e, nullptr);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_EQ(html.find("data:image/png"), std::string::npos);
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("bad\uFFFD[31m\uFFFD"), std::string::npos);
}

TEST(RenderHtml, EscapeAndBase64) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\x80", 3)), "/wCA");
}

TEST(RenderHtml, WritesTheFile) {
  TempDir dir;
  const auto e = grid_explanation(2, 2, [](int r, int c) { return r * c; });
  write_html_report(e, nullptr, dir.file("report.html"));
  EXPECT_EQ(read_file(dir.file("report.html")), render_html_report(e, nullptr));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"report.html"});
}

// ---- terminal -------------------------------------------------------------------

// The relevance column of the summary's table, in printed order.
std::vector<double> table_relevances(const std::string& summary) {
  std::vector<double> values;
  std::istringstream lines(summary.substr(summary.find("Top ")));
  std::string line;
  std::getline(lines, line);  // "Top k of n ..."
  std::getline(lines, line);  // header
  while (std::getline(lines, line) && !line.empty()) values.push_back(std::stod(line.substr(line.rfind(' ') + 1)));
  return values;
}

TEST(RenderTerminal, PlainHasNoEscapesAndTopKDescending) {
  auto e = grid_explanation(4, 5, [](int r, int c) { return std::sin(3.0 * r + c); });
  e.units.back().piece = "evil\x1b[2J";
  const std::string summary = format_terminal_summary(e, false, 7);
  EXPECT_EQ(summary.find('\x1b'), std::string::npos);
  const auto values = table_relevances(summary);
  ASSERT_EQ(values.size(), 7u);
  EXPECT_TRUE(std::is_sorted(values.rbegin(), values.rend()));
  double best = -1e9;
  for (const auto& unit : e.units) best = std::max(best, unit.relevance);
  EXPECT_NEAR(values.front(), best, 1e-4);
  EXPECT_NE(summary.find("Top 7 of 26 units"), std::string::npos);
  EXPECT_NE(summary.find(" [<circle>]"), std::string::npos) << summary;  // strongest token bracketed
  EXPECT_NE(summary.find("Image patches (4 x 5"), std::string::npos);
  // All units when top_k <= 0.
  EXPECT_EQ(table_relevances(format_terminal_summary(e, false, 0)).size(), e.units.size());
}

TEST(RenderTerminal, ColourOnlyWhenAsked) {
  auto e = grid_explanation(2, 2, [](int r, int c) { return r + c; });
  e.units.back().piece = "evil\x1b[2J";
  const std::string ansi = format_terminal_summary(e, true);
  EXPECT_NE(ansi.find("\x1b[30;48;5;"), std::string::npos);
  EXPECT_EQ(ansi.find("evil\x1b"), std::string::npos);  // the piece's own escape is defused
  const std::string truecolour = format_terminal_summary(e, TerminalColour::kTrueColour);
  EXPECT_NE(truecolour.find(";48;2;"), std::string::npos);
  EXPECT_EQ(truecolour.find(";48;5;"), std::string::npos);
}

TEST(RenderTerminal, TableAlignsNonAsciiPieces) {
  auto e = grid_explanation(1, 1, [](int, int) { return 0.1; });
  e.image_grid.reset();
  e.units.erase(e.units.begin());
  e.units[0].piece = "\u2581caf\u00e9";
  const std::string summary = format_terminal_summary(e, false, 3);
  std::istringstream lines(summary.substr(summary.find("Top ")));
  std::string line;
  std::getline(lines, line);
  std::vector<size_t> widths;
  while (std::getline(lines, line) && !line.empty()) {
    widths.push_back(static_cast<size_t>(std::count_if(line.begin(), line.end(),
                                                       [](char c) { return (c & 0xC0) != 0x80; })));
  }
  ASSERT_EQ(widths.size(), 4u);
  EXPECT_TRUE(std::all_of(widths.begin(), widths.end(), [&](size_t w) { return w == widths[0]; })) << summary;
}

// ---- atomic writer ------------------------------------------------------------------

TEST(AtomicFile, WritesReplacesAndLeavesNoTemporaryFile) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  write_file_atomically(path, "first");
  write_file_atomically(path, std::string("sec\0ond", 7));
  EXPECT_EQ(read_file(path), std::string("sec\0ond", 7));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.json"});
  write_file_atomically(path, "");
  EXPECT_EQ(read_file(path), "");
  check_output_path(dir.file("other.png"), "overlay");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"out.json"});
}

TEST(AtomicFile, RelativePathInTheWorkingFolder) {
  TempDir dir;
  const fs::path previous = fs::current_path();
  fs::current_path(dir.file(""));
  write_file_atomically("relative.txt", "x");
  check_output_path("relative2.txt");
  fs::current_path(previous);
  EXPECT_EQ(read_file(dir.file("relative.txt")), "x");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"relative.txt"});
}

void expect_one_line_error(const std::function<void()>& call, const std::string& message) {
  try {
    call();
    FAIL() << "expected std::runtime_error: " << message;
  } catch (const std::runtime_error& error) {
    EXPECT_EQ(std::string(error.what()), message);
    EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos);
  }
}

TEST(AtomicFile, MissingFolderFailsWithOneLine) {
  const std::string path = "/nonexistent-atman-folder/sub/x.png";
  const std::string message = "cannot write overlay: " + path + ": No such file or directory";
  expect_one_line_error([&] { write_file_atomically(path, "data", "overlay"); }, message);
  expect_one_line_error([&] { check_output_path(path, "overlay"); }, message);
}

TEST(AtomicFile, UnwritablePathFailsWithOneLineEvenForRoot) {
  // A path below a regular file cannot be created, whoever we are.
  TempDir dir;
  write_file_atomically(dir.file("plain"), "I am a file");
  const std::string below_file = dir.file("plain") + "/x.json";
  const std::string message = "cannot write json: " + below_file + ": Not a directory";
  expect_one_line_error([&] { write_file_atomically(below_file, "{}", "json"); }, message);
  expect_one_line_error([&] { check_output_path(below_file, "json"); }, message);
  expect_one_line_error([&] { write_file_atomically("/etc/hostname/x", "{}", "json"); },
                        "cannot write json: /etc/hostname/x: Not a directory");
  EXPECT_EQ(read_file(dir.file("plain")), "I am a file");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"plain"});
}

TEST(AtomicFile, FolderOrEmptyPathFails) {
  TempDir dir;
  expect_one_line_error([&] { write_file_atomically(dir.file(""), "x", "html"); },
                        "cannot write html: " + dir.file("") + ": the path names a folder, not a file");
  const std::string folder = dir.file("folder");
  fs::create_directory(folder);
  expect_one_line_error([&] { write_file_atomically(folder, "x", "html"); },
                        "cannot write html: " + folder + ": is a folder");
  expect_one_line_error([&] { check_output_path(folder, "html"); }, "cannot write html: " + folder + ": is a folder");
  expect_one_line_error([&] { write_file_atomically("", "x", "html"); }, "cannot write html: the path is empty");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"folder"});
}

}  // namespace
}  // namespace atman
