// The explained units (core/units.h, image_tiles.h, custom_groups.h,
// coarse_to_fine.h) against hand-computed cases.

#include "atman/core/units.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/core/coarse_to_fine.h"
#include "atman/core/custom_groups.h"
#include "atman/core/explainer.h"
#include "atman/core/image_tiles.h"
#include "atman/core/suppression.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

std::shared_ptr<Model> text_model() {
  static std::shared_ptr<Model> model = Model::load(testing::test_model("text_only.pt"));
  return model;
}

std::shared_ptr<Model> image_model() {  // 96 x 96 pixels, 12 x 12 patches, stretch
  static std::shared_ptr<Model> model = Model::load(testing::test_model("image_text.pt"));
  return model;
}

cv::Mat test_image() {
  cv::Mat rgb(80, 100, CV_8UC3, cv::Scalar(128, 128, 128));
  cv::circle(rgb, cv::Point(30, 30), 15, cv::Scalar(220, 40, 40), cv::FILLED);
  return rgb;
}

// Each group's pieces joined.
std::vector<std::string> group_text(const Sequence& s, const std::vector<std::vector<int64_t>>& groups) {
  std::vector<std::string> out;
  for (const auto& g : groups) {
    std::string text;
    for (int64_t p : g) text += s.piece_at(p);
    out.push_back(text);
  }
  return out;
}

const std::string u = "\xe2\x96\x81";  // the word mark

TEST(UnitsTest, ParagraphsEndAtBlankLines) {
  auto model = text_model();
  const Sequence s = build_sequence(*model, "One two.\n\nThree four.\n\nFive", " x", 0);
  const auto groups = explained_groups(s, Granularity::kParagraph, model->tokenizer());
  // The tokenizer writes each line break run as a word mark; the target " x" adds its first token.
  const std::vector<std::string> want = {"<s>", u + "One" + u + "two.", u + "Three" + u + "four.", u + "Five", u};
  EXPECT_EQ(group_text(s, groups), want);
  // A single line break does not end a paragraph.
  const Sequence one = build_sequence(*model, "One two.\nThree", " x", 0);
  EXPECT_EQ(group_text(one, explained_groups(one, Granularity::kParagraph, model->tokenizer())),
            (std::vector<std::string>{"<s>", u + "One" + u + "two." + u + "Three", u}));
}

// A byte-level BPE (tokenizer.json) with one token per byte and no merges:
// a newline is a piece of its own and the word after it has no word mark.
TEST(UnitsTest, WordsStartAfterANewlinePieceOfAByteLevelTokenizer) {
  nlohmann::json vocab = nlohmann::json::object();
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    // GPT-2's byte table: printable Latin-1 bytes stand for themselves, the rest from U+0100 on.
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
    const int code = printable ? b : 256 + shifted++;
    std::string text;
    if (code < 0x80) {
      text = std::string(1, static_cast<char>(code));
    } else {
      text = {static_cast<char>(0xC0 | (code >> 6)), static_cast<char>(0x80 | (code & 0x3F))};
    }
    vocab[text] = b;
  }
  const nlohmann::json config = {
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"added_tokens", nlohmann::json::array()}};
  const Tokenizer tok = Tokenizer::from_hf_json(config.dump(), "bytes.pt");
  ModelConfig c;
  c.name = "bytes";
  c.vocab_size = 256;
  c.max_positions = 64;
  c.add_bos = false;
  c.prompt_template = "{question}";
  const Sequence s = build_sequence(c, tok, "Hi\n\nBob lives", " x", 0);
  EXPECT_EQ(group_text(s, explained_groups(s, Granularity::kWord, tok)),
            (std::vector<std::string>{"Hi\n\n", "Bob", u + "lives", u}));
}

TEST(UnitsTest, DelimitedUnitsEndWithTheirDelimiter) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  const Sequence s = build_sequence(*model, "red and green and blue", " x", 0);
  EXPECT_EQ(group_text(s, explained_groups(s, Granularity::kDelimiter, tok, "and")),
            (std::vector<std::string>{"<s>", u + "red" + u + "and", u + "green" + u + "and", u + "blue", u}));
  // A delimiter inside a word: the unit ends with the token holding its end.
  const Sequence w = build_sequence(*model, "aXb cXd", " x", 0);
  const auto pieces = group_text(w, explained_groups(w, Granularity::kDelimiter, tok, "X"));
  ASSERT_EQ(pieces.size(), 5u);
  EXPECT_EQ(pieces[1], u + "aX");
  EXPECT_EQ(pieces[2], "b" + u + "cX");
  EXPECT_EQ(pieces[3], "d");
  expect_error([&] { explained_groups(s, Granularity::kDelimiter, tok, ""); },
               {"granularity delimiter needs a non-empty delimiter (--delimiter)"});
  expect_error([&] { explained_groups(s, Granularity::kAuto, tok); }, {"granularity auto must be resolved first"});
}

TEST(UnitsTest, AutoChoosesTheCoarsestWithEnoughUnits) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  // 3 sentences, 9 words (the target " x" adds one word mark unit at every granularity).
  const Sequence s = build_sequence(*model, "Bob likes tea. Where is Bob? Tea is hot.", " x", 0);
  EXPECT_EQ(choose_granularity(s, tok, 4), Granularity::kSentence);
  EXPECT_EQ(choose_granularity(s, tok, 5), Granularity::kWord);
  EXPECT_EQ(choose_granularity(s, tok, 10), Granularity::kWord);
  EXPECT_EQ(choose_granularity(s, tok, 11), Granularity::kToken);
  ExplainOptions o;
  o.granularity = Granularity::kAuto;
  o.target_units = 30;  // the default: 10 words are too few
  const ExplainedUnits units = explained_units(s, o, tok);
  EXPECT_EQ(units.chosen_granularity, Granularity::kToken);
  EXPECT_EQ(static_cast<int64_t>(units.groups.size()), s.length());
  o.target_units = 0;
  expect_error([&] { explained_units(s, o, tok); }, {"target units must be >= 1, got 0"});
}

TEST(UnitsTest, TilesCoverTheGridAsDocumented) {
  // G = 12, N = 5: floor(a * 12 / 5) .. floor((a + 1) * 12 / 5) - 1.
  const std::vector<std::pair<int64_t, int64_t>> want = {{0, 1}, {2, 3}, {4, 6}, {7, 8}, {9, 11}};
  for (int64_t a = 0; a < 5; ++a) EXPECT_EQ(tile_span(a, 12, 5), want[a]);
  EXPECT_EQ(tile_span(2, 12, 3), (std::pair<int64_t, int64_t>{8, 11}));
  EXPECT_EQ(tile_span(0, 12, 1), (std::pair<int64_t, int64_t>{0, 11}));
  EXPECT_EQ(image_tiles(12, 12, 12, 12).size(), 144u);
  expect_error([] { image_tiles(12, 12, 13, 13); }, {"image granularity 13x13 does not fit the 12x12 patch grid"});

  auto model = image_model();
  const Sequence s = build_sequence(*model, "Question: What? Answer:", " red", 144);
  ExplainOptions o;
  o.image_granularity = 3;
  const ExplainedUnits units = explained_units(s, o, model->tokenizer());
  ASSERT_EQ(units.groups.size(), static_cast<size_t>(9 + s.length() - 144));
  // The image first (no {image}): tile (1, 2) holds rows 4..7, columns 8..11.
  EXPECT_EQ(units.groups[5].size(), 16u);
  EXPECT_EQ(units.groups[5].front(), 4 * 12 + 8);
  EXPECT_EQ(units.groups[5].back(), 7 * 12 + 11);
  EXPECT_EQ(units.labels[5].tile_row0, 4);
  EXPECT_EQ(units.labels[5].tile_col1, 11);
  EXPECT_EQ(units.groups[9], std::vector<int64_t>{144});  // BOS after the image
  o.image_granularity = 13;
  expect_error([&] { explained_units(s, o, model->tokenizer()); },
               {"image granularity 13 is larger than the 12x12 patch grid (at most 12 tiles per side)"});
}

TEST(UnitsTest, GroupsFileErrorsNameTheProblem) {
  const std::string f = "g.json";
  expect_error([&] { parse_custom_groups("{\"groups\": [", f); }, {"g.json: not valid JSON"});
  expect_error([&] { parse_custom_groups("{\"group\": []}", f); }, {"g.json: expected {\"groups\": ["});
  expect_error([&] { parse_custom_groups("{\"groups\": []}", f); }, {"with at least one group"});
  expect_error([&] { parse_custom_groups(R"({"groups": [{"spans": [[0, 1]]}]})", f); },
               {"g.json: group 0 needs a non-empty \"name\""});
  expect_error([&] { parse_custom_groups(R"({"groups": [{"name": "a"}]})", f); },
               {"g.json: group \"a\" is empty: give spans or a rect"});
  expect_error([&] { parse_custom_groups(R"({"groups": [{"name": "a", "spans": [[3, 3]]}]})", f); },
               {"g.json: group \"a\": span [3, 3] needs 0 <= start < end (end exclusive)"});
  expect_error([&] { parse_custom_groups(R"({"groups": [{"name": "a", "spans": [[0.5, 3]]}]})", f); },
               {"a span must be [start, end] (two integers), got [0.5,3]"});
  expect_error([&] { parse_custom_groups(R"({"groups": [{"name": "a", "rect": [0, 0, 1.5, 1]}]})", f); },
               {"rect must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1"});
  expect_error([&] { parse_custom_groups(R"({"groups": [{"name": "a", "spans": [[0, 1]], "span": 1}]})", f); },
               {"unknown key \"span\""});
  expect_error(
      [&] { parse_custom_groups(R"({"groups": [{"name": "a", "spans": [[0, 1]]}, {"name": "a", "spans": [[2, 3]]}]})", f); },
      {"g.json: group name \"a\" is used twice"});

  auto model = text_model();
  const Sequence s = build_sequence(*model, "Bob likes tea.", " x", 0);  // 14 characters
  auto units_of = [&](const std::string& json) {
    return custom_units(s, parse_custom_groups(json, f), TokenOverlap::kPartial, model->tokenizer(), 0, 0, std::nullopt);
  };
  expect_error([&] { units_of(R"({"groups": [{"name": "a", "spans": [[10, 15]]}]})"); },
               {"group \"a\": span [10, 15) lies outside the prompt's 14 characters"});
  expect_error([&] { units_of(R"({"groups": [{"name": "a", "spans": [[0, 5]]}, {"name": "b", "spans": [[4, 9]]}]})"); },
               {"groups \"a\" and \"b\" overlap at characters [4, 5) of the prompt"});
  expect_error([&] { units_of(R"({"groups": [{"name": "a", "rect": [0, 0, 0.5, 0.5]}]})"); },
               {"group \"a\" has a rect but there is no image"});
  expect_error([&] { units_of(R"({"groups": [{"name": "a", "spans": [[3, 4]]}]})"); },  // the space alone
               {"group \"a\" covers no token or patch of the input"});
}

TEST(UnitsTest, TokenOverlapScalesSuppressionByTheCoveredFraction) {
  auto model = text_model();
  const auto& tok = model->tokenizer();
  // "Bob likes tea." in the test tokenizer: <s>, the word mark in front, B o b
  // at 2..4, "▁like" at 5, s at 6, the space at 7, t e a . at 8..11.
  const Sequence s = build_sequence(*model, "Bob likes tea.", " x", 0);
  ASSERT_EQ(s.piece_at(5), u + "like");
  ASSERT_EQ(s.piece_at(6), "s");
  // A span of "Bob li" (characters [0, 6)): B, o, b whole; "▁like" stands for
  // " like", its characters (the word mark's space aside) "like" [4, 8): half.
  const auto groups = parse_custom_groups(R"({"groups": [{"name": "first", "spans": [[0, 6]]}]})", "g");
  const ExplainedUnits partial = custom_units(s, groups, TokenOverlap::kPartial, tok, 0, 0, std::nullopt);
  ASSERT_EQ(partial.groups.size(), 1u);
  EXPECT_EQ(partial.groups[0], (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(partial.labels[0].name, "first");
  EXPECT_EQ(partial.labels[0].coverage, (std::vector<double>{1.0, 1.0, 1.0, 0.5}));
  EXPECT_EQ(partial.weights, (std::vector<std::vector<double>>{{1.0, 1.0, 1.0, 0.5}}));
  const ExplainedUnits complete = custom_units(s, groups, TokenOverlap::kComplete, tok, 0, 0, std::nullopt);
  EXPECT_EQ(complete.groups, partial.groups);
  EXPECT_TRUE(complete.weights.empty());  // every member the full factor
  EXPECT_EQ(complete.labels[0].coverage, partial.labels[0].coverage);
  // Through prepare: "▁like" gets 1 - 0.5 (1 - 0.1) = 0.55, B o b 0.1.
  Explainer text_explainer(model);
  ExplainOptions to;
  to.conceptual_threshold = std::nullopt;
  to.groups = groups;
  const at::Tensor row = text_explainer.prepare({"Bob likes tea.", " x", cv::Mat(), {}}, to).modifiers[0];
  EXPECT_NEAR(row[5].item<float>(), 0.55, 1e-7);
  EXPECT_NEAR(row[2].item<float>(), 0.1, 1e-7);
  EXPECT_NEAR(row[6].item<float>(), 1.0, 0);

  // Word-sized pieces (the shipped model's tokenizer): "blu" covers 3 of
  // the 4 characters of "▁blue" (its word mark's space aside).
  auto magma = Model::load(testing::source_path("torchscript_models/tiny_magma.pt"));
  Explainer explainer(magma);
  const ExplainInput input{"What shape is the blue object?", " triangle", cv::Mat()};
  ExplainOptions o;
  o.conceptual_threshold = std::nullopt;
  o.groups = parse_custom_groups(R"({"groups": [{"name": "blu", "spans": [[18, 21]]}]})", "g");
  const PreparedInput p = explainer.prepare(input, o);
  ASSERT_EQ(p.groups, (std::vector<std::vector<int64_t>>{{5}}));
  ASSERT_EQ(p.sequence.piece_at(5), u + "blue");
  EXPECT_EQ(p.labels[0].coverage, std::vector<double>{0.75});
  EXPECT_NEAR(p.modifiers[0][5].item<float>(), 1.0 - 0.75 * 0.9, 1e-7);  // 0.325
  EXPECT_EQ(at::where(p.modifiers[0] != 1.0f)[0].numel(), 1);
  o.token_overlap = TokenOverlap::kComplete;
  EXPECT_NEAR(explainer.prepare(input, o).modifiers[0][5].item<float>(), 0.1, 1e-7);

  // The factors: a member of weight c gets 1 - c (1 - f); complete gives f.
  const at::Tensor rows = modifier_rows({}, 6, {{1, 2}}, 0.1, std::nullopt, {{1.0, 0.25}});
  EXPECT_NEAR(rows[0][1].item<float>(), 0.1, 1e-7);
  EXPECT_NEAR(rows[0][2].item<float>(), 1.0 - 0.25 * 0.9, 1e-7);  // 0.775
  EXPECT_NEAR(rows[0][3].item<float>(), 1.0, 0);
  // Conceptual neighbours of a partly covered member are scaled the same way:
  // C[2, 4] = 0.8 proposes (1 - 0.1)(1 - 0.8) + 0.1 = 0.28, scaled by 0.25: 0.82.
  at::Tensor sim = at::eye(6, at::kDouble);
  sim[2][4] = sim[4][2] = 0.8;
  const at::Tensor conceptual = modifier_rows(sim, 6, {{1, 2}}, 0.1, 0.6, {{1.0, 0.25}});
  EXPECT_NEAR(conceptual[0][4].item<float>(), 1.0 - 0.25 * (1.0 - 0.28), 1e-6);
  expect_error([&] { modifier_rows({}, 6, {{1, 2}}, 0.1, std::nullopt, {{1.0}}); }, {"1 weights for the 2 members"});
}

TEST(UnitsTest, RectanglesCoverPatchesByArea) {
  auto model = image_model();
  const Sequence s = build_sequence(*model, "Question: What? Answer:", " red", 144);
  // [0, 0, 0.125, 0.125] of a 96 x 96 image is 12 x 12 pixels: patch (0, 0)
  // (8 x 8) whole, (0, 1) and (1, 0) half, (1, 1) a quarter.
  const auto groups = parse_custom_groups(R"({"groups": [{"name": "corner", "rect": [0, 0, 0.125, 0.125]}]})", "g");
  for (TokenOverlap overlap : {TokenOverlap::kPartial, TokenOverlap::kComplete}) {
    const ExplainedUnits units = custom_units(s, groups, overlap, model->tokenizer(), 96, 96, model->config().image);
    ASSERT_EQ(units.groups.size(), 1u);
    EXPECT_EQ(units.groups[0], (std::vector<int64_t>{0, 1, 12, 13}));
    EXPECT_EQ(units.labels[0].coverage, (std::vector<double>{1.0, 0.5, 0.5, 0.25}));
    EXPECT_EQ(units.weights.size(), overlap == TokenOverlap::kPartial ? 1u : 0u);
  }
  // The original image's size matters (stretch): the same rect of a 192 x 96 image.
  const ExplainedUnits wide = custom_units(s, groups, TokenOverlap::kPartial, model->tokenizer(), 192, 96,
                                           model->config().image);
  EXPECT_EQ(wide.labels[0].coverage, (std::vector<double>{1.0, 0.5, 0.5, 0.25}));  // stretch: relative coordinates
}

double max_unit_diff(const std::vector<ExplainedUnit>& a, const std::vector<ExplainedUnit>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0.0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    EXPECT_EQ(a[i].members, b[i].members) << i;
    d = std::max(d, std::abs(a[i].relevance - b[i].relevance));
  }
  return d;
}

std::vector<ExplainedUnit> image_units(const Explanation& e) {
  std::vector<ExplainedUnit> out;
  for (const ExplainedUnit& unit : e.units) {
    if (unit.kind == PositionKind::kImage) out.push_back(unit);
  }
  return out;
}

TEST(UnitsTest, TileSweepEqualsGroupsOfTheSameRectangles) {
  auto model = image_model();
  Explainer explainer(model);
  const ExplainInput input{"Question: What color is the circle? Answer:", " red", test_image()};
  ExplainOptions tiles;
  tiles.image_granularity = 3;
  tiles.batch_size = 4;
  const Explanation a = explainer.explain(input, tiles);
  std::string json = "{\"groups\": [";
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      json += fmt::format("{}{{\"name\": \"t{}{}\", \"rect\": [{}, {}, {}, {}]}}", r + c ? ", " : "", r, c, c / 3.0,
                          r / 3.0, (c + 1) / 3.0, (r + 1) / 3.0);
    }
  }
  ExplainOptions groups;
  groups.groups = parse_custom_groups(json + "]}", "tiles");
  groups.batch_size = 4;
  const Explanation b = explainer.explain(input, groups);
  ASSERT_EQ(b.units.size(), 9u);
  EXPECT_EQ(b.units[5].name, "t12");
  EXPECT_EQ(a.units[5].tile_row0, 4);
  const double scale = std::max(1e-3, std::abs(a.units[0].relevance));
  EXPECT_LT(max_unit_diff(image_units(a), b.units), 1e-5 * scale);
}

TEST(UnitsTest, CoarseToFineWithFractionZeroIsTheFullPatchSweep) {
  auto model = image_model();
  Explainer explainer(model);
  const ExplainInput input{"Question: What color is the circle? Answer:", " red", test_image()};
  ExplainOptions full;
  full.batch_size = 4;
  const Explanation exact = explainer.explain(input, full);
  ExplainOptions c2f = full;
  c2f.image_search = ImageSearch::kCoarseToFine;
  c2f.refine_fraction = 0.0;
  const Explanation all = explainer.explain(input, c2f);
  double scale = 1e-3;
  for (const ExplainedUnit& unit : exact.units) scale = std::max(scale, std::abs(unit.relevance));
  EXPECT_LT(max_unit_diff(exact.units, all.units), 1e-5 * scale);
  for (const ExplainedUnit& unit : all.units) EXPECT_TRUE(unit.refined);

  // F = 1: only each level's top tile is refined: 9 tiles, 4 of 2 x 2, 4 patches.
  c2f.refine_fraction = 1.0;
  const Explanation top = explainer.explain(input, c2f);
  const int64_t text_units = static_cast<int64_t>(exact.units.size()) - 144;
  EXPECT_EQ(top.stats.forward_passes, (9 + text_units + 1) + (4 + 1) + (4 + 1));
  const std::vector<ExplainedUnit> patches = image_units(top);
  ASSERT_EQ(patches.size(), 144u);
  int refined = 0;
  for (const ExplainedUnit& p : patches) {
    if (p.refined) {
      ++refined;
      continue;
    }
    // An unrefined patch carries its tile's relevance, and lies inside it.
    EXPECT_GE(p.patch_row, p.tile_row0);
    EXPECT_LE(p.patch_row, p.tile_row1);
    EXPECT_GE(p.patch_col, p.tile_col0);
    EXPECT_LE(p.patch_col, p.tile_col1);
  }
  EXPECT_EQ(refined, 4);
  // The refined patches are exact.
  for (size_t i = 0; i < patches.size(); ++i) {
    if (patches[i].refined) EXPECT_NEAR(patches[i].relevance, image_units(exact)[i].relevance, 1e-5 * scale);
  }

  ExplainOptions bad = c2f;
  bad.refine_fraction = 1.5;
  expect_error([&] { explainer.explain(input, bad); }, {"refine fraction must be in [0, 1], got 1.5"});
  expect_error([&] { explainer.explain({input.prompt, input.target, cv::Mat()}, c2f); },
               {"image search coarse-to-fine needs an image"});
}

TEST(UnitsTest, RefinementRule) {
  EXPECT_EQ(tiles_to_refine({1.0, 0.4, 0.6, -2.0}, 0.5), (std::vector<bool>{true, false, true, false}));
  EXPECT_EQ(tiles_to_refine({1.0, 0.4, 0.6, -2.0}, 0.0), (std::vector<bool>{true, true, true, true}));
  EXPECT_EQ(tiles_to_refine({-1.0, -2.0}, 0.5), (std::vector<bool>{true, false}));  // the top tile always
  EXPECT_EQ(tiles_to_refine({0.0, 0.0}, 1.0), (std::vector<bool>{true, true}));
}

}  // namespace
}  // namespace atman
