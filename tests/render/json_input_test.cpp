// Tests of reading an explanation back from its JSON (render/json_input.h):
// the round trip of every field the renderers use, and bad documents.

#include "atman/render/json_input.h"

#include <string>

#include <gtest/gtest.h>

#include "atman/render/json_output.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::grid_explanation;

TEST(RenderJsonInputTest, RoundTripsWhatTheRenderersUse) {
  auto e = grid_explanation(2, 2, [](int r, int c) { return r - 0.5 * c; });
  e.method = "ixg";
  e.targets.push_back({9, "\u2581berry", 1.5});
  for (auto& unit : e.units) unit.per_target = {unit.relevance, -unit.relevance};
  e.units[0].members = {0, 1};
  e.units[0].tile_row0 = 0, e.units[0].tile_row1 = 0, e.units[0].tile_col0 = 0, e.units[0].tile_col1 = 1;
  e.units[5].name = "question";
  e.units[5].members = {5, 6};
  e.params.granularity = Granularity::kWord;
  const Explanation back = explanation_from_json(explanation_to_json(e));
  EXPECT_EQ(back.model, e.model);
  EXPECT_EQ(back.method, "ixg");
  EXPECT_EQ(back.prompt, e.prompt);
  EXPECT_EQ(back.target, e.target);
  EXPECT_EQ(back.params.granularity, Granularity::kWord);
  EXPECT_EQ(back.image_grid, e.image_grid);
  ASSERT_EQ(back.targets.size(), 2u);
  EXPECT_EQ(back.targets[1].piece, "\u2581berry");
  EXPECT_DOUBLE_EQ(back.targets[1].ce, 1.5);
  EXPECT_FALSE(back.contrast.has_value());
  ASSERT_EQ(back.units.size(), e.units.size());
  for (size_t i = 0; i < e.units.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(back.units[i].index, e.units[i].index);
    EXPECT_EQ(back.units[i].kind, e.units[i].kind);
    EXPECT_EQ(back.units[i].members, e.units[i].members);
    EXPECT_EQ(back.units[i].patch_row, e.units[i].patch_row);
    EXPECT_EQ(back.units[i].patch_col, e.units[i].patch_col);
    EXPECT_EQ(back.units[i].piece, e.units[i].piece);
    EXPECT_EQ(back.units[i].name, e.units[i].name);
    EXPECT_EQ(back.units[i].tile_col1, e.units[i].tile_col1);
    EXPECT_DOUBLE_EQ(back.units[i].relevance, e.units[i].relevance);
    EXPECT_EQ(back.units[i].per_target, e.units[i].per_target);
  }
}

TEST(RenderJsonInputTest, BadDocumentsGiveOneLine) {
  auto message = [](const std::string& text) {
    try {
      explanation_from_json(text);
    } catch (const std::invalid_argument& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("not json").rfind("explanation JSON: ", 0), 0u);
  EXPECT_EQ(message("{}").rfind("explanation JSON: ", 0), 0u);
  std::string text = explanation_to_json(grid_explanation(1, 1, [](int, int) { return 1.0; }));
  text.replace(text.find("\"image\""), 7, "\"photo\"");
  EXPECT_EQ(message(text), "explanation JSON: unknown position kind 'photo'");
}

}  // namespace
}  // namespace atman
