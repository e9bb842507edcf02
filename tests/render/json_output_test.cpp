#include "atman/render/json_output.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace atman {
namespace {

Explanation sample() {
  Explanation e;
  e.model = "tiny";
  e.prompt = "Question: What color is the circle? Answer:";
  e.target = " red";
  e.params.suppression_factor = 0.1;
  e.params.conceptual_threshold = 0.6;
  e.params.granularity = Granularity::kWord;
  e.image_grid = std::make_pair(int64_t{2}, int64_t{3});
  e.targets = {{123, "\xe2\x96\x81red", 0.02}, {7, "s", 1.5}};
  ExplainedUnit image;
  image.index = 4;
  image.kind = PositionKind::kImage;
  image.members = {4};
  image.patch_row = 1;
  image.patch_col = 1;
  image.relevance = 0.25;
  image.per_target = {0.125, 0.125};
  ExplainedUnit word;
  word.index = 7;
  word.kind = PositionKind::kText;
  word.members = {7, 8};
  word.token_id = 42;
  word.piece = "\xe2\x96\x81" "cir" "cle";
  word.relevance = -1.0;
  word.per_target = {-0.5, -0.5};
  ExplainedUnit target = word;
  target.index = 9;
  target.kind = PositionKind::kTarget;
  target.members = {9};
  e.units = {image, word, target};
  e.stats.forward_passes = 4;
  e.stats.threads = 2;
  return e;
}

TEST(JsonOutputTest, FollowsDesignSection4) {
  const auto j = nlohmann::json::parse(explanation_to_json(sample()));
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["prompt"], "Question: What color is the circle? Answer:");
  EXPECT_EQ(j["target"], " red");
  EXPECT_DOUBLE_EQ(j["params"]["suppression_factor"].get<double>(), 0.1);
  EXPECT_DOUBLE_EQ(j["params"]["conceptual_threshold"].get<double>(), 0.6);
  EXPECT_EQ(j["image_grid"], nlohmann::json::array({2, 3}));
  ASSERT_EQ(j["targets"].size(), 2u);
  EXPECT_EQ(j["targets"][0]["id"], 123);
  EXPECT_EQ(j["targets"][0]["piece"], "\xe2\x96\x81red");
  EXPECT_DOUBLE_EQ(j["targets"][0]["ce"].get<double>(), 0.02);
  ASSERT_EQ(j["positions"].size(), 3u);
  const auto& p0 = j["positions"][0];
  EXPECT_EQ(p0["index"], 4);
  EXPECT_EQ(p0["kind"], "image");
  EXPECT_EQ(p0["patch"], nlohmann::json::array({1, 1}));
  EXPECT_FALSE(p0.contains("piece"));
  EXPECT_DOUBLE_EQ(p0["relevance"].get<double>(), 0.25);
  EXPECT_EQ(p0["per_target"].size(), 2u);
  const auto& p1 = j["positions"][1];
  EXPECT_EQ(p1["kind"], "text");
  EXPECT_EQ(p1["piece"], "\xe2\x96\x81" "circle");
  EXPECT_EQ(p1["members"], nlohmann::json::array({7, 8}));
  EXPECT_FALSE(p1.contains("patch"));
  EXPECT_EQ(j["positions"][2]["kind"], "target");
  // Extra keys.
  EXPECT_EQ(j["method"], "atman");
  EXPECT_EQ(j["params"]["granularity"], "word");
  EXPECT_EQ(j["stats"]["forward_passes"], 4);
  EXPECT_EQ(j["stats"]["threads"], 2);
}

TEST(JsonOutputTest, TextOnlyAndSingleTokenSuppression) {
  Explanation e = sample();
  e.image_grid.reset();
  e.params.conceptual_threshold.reset();
  const auto j = nlohmann::json::parse(explanation_to_json(e, -1));
  EXPECT_TRUE(j["image_grid"].is_null());
  EXPECT_TRUE(j["params"]["conceptual_threshold"].is_null());
}

TEST(JsonOutputTest, NamesRoundTrip) {
  for (auto g : {Granularity::kToken, Granularity::kWord, Granularity::kSentence}) {
    EXPECT_EQ(parse_granularity(granularity_name(g)), g);
  }
  EXPECT_THROW(parse_granularity("letter"), std::invalid_argument);
  EXPECT_EQ(position_kind_name(PositionKind::kTarget), "target");
}

}  // namespace
}  // namespace atman
