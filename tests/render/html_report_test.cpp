// Tests of the HTML report (render/html_report.h): every token escaped,
// hostile strings, base64, the written file.

#include "atman/render/html_report.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "atman/render/overlay.h"  // display_piece
#include "test_util.h"

namespace atman {
namespace {

using testing::gray_image;
using testing::grid_explanation;
using testing::read_file;
using testing::TempDir;

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

}  // namespace
}  // namespace atman
