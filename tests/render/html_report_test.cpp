// Tests of the HTML report (render/html_report.h): every token escaped,
// hostile strings, base64, the written file.

#include "atman/render/html_report.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "atman/render/overlay.h"  // display_piece
#include "test_util.h"

namespace atman {
namespace {

using testing::gray_image;
using testing::grid_explanation;
using testing::read_file;
using testing::TempDir;

TEST(RenderHtmlTest, ContainsEveryTokenEscaped) {
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

TEST(RenderHtmlTest, TextOnlyAndHostileStrings) {
  auto e = grid_explanation(1, 1, [](int, int) { return 0.0; });
  e.image_grid.reset();
  e.units.erase(e.units.begin());
  e.prompt = "a \"quoted\" 'prompt' <script>alert(1)</script>";
  e.units.back().piece = std::string("bad\x1b[31m\xff");
  const std::string html = render_html_report(e, nullptr);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("</script>\n</script>"), std::string::npos);
  EXPECT_EQ(html.find("data:image/png"), std::string::npos);
  EXPECT_EQ(html.find('\x1b'), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("bad\uFFFD[31m\uFFFD"), std::string::npos);
}

// The page's data blob (what the script shows on hover), parsed back.
nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"atman-data\">";
  const size_t begin = html.find(open);
  EXPECT_NE(begin, std::string::npos);
  const size_t end = html.find("</script>", begin);
  return nlohmann::json::parse(html.substr(begin + open.size(), end - begin - open.size()));
}

TEST(RenderHtmlTest, OneMapPerTargetAndPerMethodWithTheirValues) {
  auto atman = grid_explanation(2, 2, [](int r, int c) { return r * 2 + c - 1.0; });
  atman.targets.push_back({8, "\u2581berry", 0.5});
  for (auto& unit : atman.units) unit.per_target = {0.25 * unit.index, unit.relevance - 0.25 * unit.index};
  auto other = atman;
  other.method = "ixg";
  for (auto& unit : other.units) unit.relevance *= -2.0;
  const cv::Mat image = gray_image(40, 40);
  const std::string html = render_html_report({atman, other}, &image);
  const auto data = page_data(html);
  // AtMan: sum, " red", " berry"; IxG: the same three.
  ASSERT_EQ(data["maps"].size(), 6u);
  EXPECT_EQ(data["maps"][1]["target"], 0);
  EXPECT_EQ(data["maps"][3]["method"], "ixg");
  EXPECT_EQ(data["image"]["rows"], 2);
  EXPECT_EQ(data["image"]["width"], 480);  // 40 px shown 12x larger
  for (size_t m = 0; m < 6; ++m) {
    const Explanation& e = m < 3 ? atman : other;
    const auto& map = data["maps"][m];
    ASSERT_EQ(map["units"].size(), 4u);
    ASSERT_EQ(map["cells"].size(), 4u);
    EXPECT_EQ(map["png"].get<std::string>().rfind("data:image/png;base64,", 0), 0u);
    for (size_t u = 0; u < 4; ++u) {
      const double expected = m % 3 == 0 ? e.units[u].relevance : e.units[u].per_target[m % 3 - 1];
      EXPECT_DOUBLE_EQ(map["units"][u]["value"].get<double>(), expected) << m << " " << u;
      EXPECT_EQ(map["cells"][u], u);  // cell (r, c) shows unit r * 2 + c
    }
    // The text tokens, in page order: their values under this map.
    const auto& tokens = map["tokens"];
    ASSERT_EQ(tokens.size(), e.units.size() - 4);
    EXPECT_DOUBLE_EQ(tokens[3]["value"].get<double>(), m % 3 == 0 ? e.units[7].relevance : e.units[7].per_target[m % 3 - 1]);
  }
  EXPECT_NE(html.find("<option value=\"5\">Input x Gradient: R[\u201c berry\u201d] (target token 1)</option>"), std::string::npos);
  EXPECT_NE(html.find("data-t=\"0\" data-index=\"4\""), std::string::npos);
  EXPECT_NE(html.find("Top positions \u2014 Input x Gradient"), std::string::npos);
  EXPECT_THROW(render_html_report(std::vector<Explanation>{}, nullptr), std::invalid_argument);

  // A contrastive explanation: one signed map, no per-token ones.
  atman.contrast = ContrastAnswer{" blue", {}};
  const auto contrast = page_data(render_html_report(atman, &image));
  ASSERT_EQ(contrast["maps"].size(), 1u);
  EXPECT_EQ(contrast["maps"][0]["label"], "AtMan: R (\u201c red\u201d rather than \u201c blue\u201d)");
  EXPECT_EQ(contrast["maps"][0]["bar_labels"].size(), 3u);  // +top, 0, -top: diverging
}

TEST(RenderHtmlTest, NamesGroupsAndTilesAndKeepsTheBlobInsideItsScript) {
  auto e = grid_explanation(2, 2, [](int, int) { return 1.0; });
  // One tile of all four patches, and a named custom text group.
  ExplainedUnit tile = e.units[0];
  tile.members = {0, 1, 2, 3};
  tile.tile_row0 = 0, tile.tile_row1 = 1, tile.tile_col0 = 0, tile.tile_col1 = 1;
  e.units.erase(e.units.begin(), e.units.begin() + 4);
  e.units.insert(e.units.begin(), tile);
  e.units[2].name = "the </script> part";
  e.units[2].members = {5, 6};
  const std::string html = render_html_report(e, nullptr);
  const auto data = page_data(html);
  EXPECT_EQ(data["maps"][0]["cells"], nlohmann::json::array({0, 0, 0, 0}));
  EXPECT_EQ(data["maps"][0]["units"][0]["label"], "tile (0-1, 0-1)");
  EXPECT_EQ(data["maps"][0]["tokens"][1]["label"].get<std::string>().rfind("group \u201cthe </script> part\u201d: text", 0), 0u);
  EXPECT_EQ(html.find("the </script>"), std::string::npos);  // '<' is \u003c inside the blob
}

TEST(RenderHtmlTest, EscapeAndBase64) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\x80", 3)), "/wCA");
}

TEST(RenderHtmlTest, WritesTheFile) {
  TempDir dir;
  const auto e = grid_explanation(2, 2, [](int r, int c) { return r * c; });
  write_html_report(e, nullptr, dir.file("report.html"));
  EXPECT_EQ(read_file(dir.file("report.html")), render_html_report(e, nullptr));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"report.html"});
}

}  // namespace
}  // namespace atman
