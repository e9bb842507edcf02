// Tests of the terminal summary (render/terminal_report.h): the top-k table,
// colour only when asked, alignment of non-ASCII pieces.

#include "atman/render/terminal_report.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "atman/render/colour_map.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::grid_explanation;

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

TEST(RenderTerminalTest, PlainHasNoEscapesAndTopKDescending) {
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

TEST(RenderTerminalTest, ColourOnlyWhenAsked) {
  auto e = grid_explanation(2, 2, [](int r, int c) { return r + c; });
  e.units.back().piece = "evil\x1b[2J";
  const std::string ansi = format_terminal_summary(e, true);
  EXPECT_NE(ansi.find("\x1b[30;48;5;"), std::string::npos);
  EXPECT_EQ(ansi.find("evil\x1b"), std::string::npos);  // the piece's own escape is defused
  const std::string truecolour = format_terminal_summary(e, TerminalColour::kTrueColour);
  EXPECT_NE(truecolour.find(";48;2;"), std::string::npos);
  EXPECT_EQ(truecolour.find(";48;5;"), std::string::npos);
}

TEST(RenderTerminalTest, TableAlignsNonAsciiPieces) {
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

TEST(RenderTerminalTest, NamesTilesAndGroupsAndPaintsSignedMapsDiverging) {
  // A 2 x 2 tile over patches 0, 1, 2, 3 of a 2 x 2 grid, and a named text group.
  auto e = grid_explanation(2, 2, [](int, int) { return 0.0; });
  ExplainedUnit tile = e.units[0];
  tile.members = {0, 1, 2, 3};
  tile.tile_row0 = 0, tile.tile_row1 = 1, tile.tile_col0 = 0, tile.tile_col1 = 1;
  tile.relevance = -4.0;
  e.units.erase(e.units.begin(), e.units.begin() + 4);
  e.units.insert(e.units.begin(), tile);
  e.units[1].name = "greeting";
  e.units[1].relevance = 2.0;
  const std::string plain = format_terminal_summary(e, false, 0);
  EXPECT_NE(plain.find("tile (0-1, 0-1)"), std::string::npos) << plain;
  EXPECT_NE(plain.find("group \"greeting\": \"<s>\""), std::string::npos) << plain;
  // Every cell of the tile shows its value: the most negative end of the diverging map.
  const std::string colour = format_terminal_summary(e, TerminalColour::kTrueColour, 0);
  const cv::Vec3b blue = colour_of(0.0, ColourMap::kDiverging);
  const std::string cell = fmt::format("48;2;{};{};{}m  ", blue[0], blue[1], blue[2]);
  size_t count = 0;
  for (size_t at = colour.find(cell); at != std::string::npos; at = colour.find(cell, at + 1)) ++count;
  EXPECT_EQ(count, 4u) << colour;
}

}  // namespace
}  // namespace atman
