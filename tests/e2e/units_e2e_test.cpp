// `atman explain`, `eval` and `bench` with the unit flags (runner/unit_flags.h):
// the JSON they write and one clear line for every bad value.

#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace atman {
namespace {

using testing::read_file;
using testing::run_atman;
using testing::RunResult;
using testing::TempDir;
using testing::test_model;
using testing::write_file;

const std::string kImage = testing::source_path("data/example/shapes.png");

void expect_one_line(const std::vector<std::string>& args, int code, const std::string& message) {
  SCOPED_TRACE(message);
  const RunResult r = run_atman(args);
  EXPECT_EQ(r.exit_code, code) << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines[0].rfind("atman: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(message), std::string::npos) << lines[0];
}

TEST(E2eUnitsTest, BadUnitValuesGetOneLine) {
  TempDir tmp;
  const std::string text = test_model("text_only.pt"), image = test_model("image_text.pt");
  const std::vector<std::string> t = {"explain", "--model", text, "--prompt", "Bob likes tea.", "--target", " x", "-q"};
  const std::vector<std::string> i = {"explain", "--model", image, "--image", kImage, "--prompt", "What? Answer:",
                                      "--target", " red", "-q"};
  auto with = [](std::vector<std::string> base, const std::vector<std::string>& more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  const std::string bad_json = tmp.path("bad.json"), outside = tmp.path("outside.json"), overlap = tmp.path("o.json"),
                    empty = tmp.path("empty.json"), rect = tmp.path("rect.json");
  write_file(bad_json, "{\"groups\": [{\"name\": \"a\", ");
  write_file(outside, R"({"groups": [{"name": "a", "spans": [[10, 40]]}]})");
  write_file(overlap, R"({"groups": [{"name": "a", "spans": [[0, 5]]}, {"name": "b", "spans": [[3, 8]]}]})");
  write_file(empty, R"({"groups": [{"name": "a", "spans": []}]})");
  write_file(rect, R"({"groups": [{"name": "r", "rect": [0, 0, 0.5, 0.5]}]})");
  expect_one_line(with(t, {"--granularity", "delimiter"}), 2,
                  "--granularity delimiter needs --delimiter with a non-empty text");
  expect_one_line(with(t, {"--granularity", "delimiter", "--delimiter", ""}), 2,
                  "--granularity delimiter needs --delimiter with a non-empty text");
  expect_one_line(with(t, {"--delimiter", ";"}), 2, "--delimiter needs --granularity delimiter");
  expect_one_line(with(t, {"--granularity", "auto", "--target-units", "0"}), 2, "--target-units must be in [1, 1000000], got 0");
  expect_one_line(with(t, {"--target-units", "5"}), 2, "--target-units needs --granularity auto");
  expect_one_line(with(t, {"--groups", bad_json}), 1, "bad.json: not valid JSON");
  expect_one_line(with(t, {"--groups", outside}), 1, "group \"a\": span [10, 40) lies outside the prompt's 14 characters");
  expect_one_line(with(t, {"--groups", overlap}), 1, "groups \"a\" and \"b\" overlap at characters [3, 5) of the prompt");
  expect_one_line(with(t, {"--groups", empty}), 1, "group \"a\" is empty: give spans or a rect");
  expect_one_line(with(t, {"--groups", rect}), 1, "group \"r\" has a rect but there is no image");
  expect_one_line(with(t, {"--groups", tmp.path("missing.json")}), 1, "missing.json: cannot read the groups file");
  expect_one_line(with(t, {"--groups", outside, "--granularity", "word"}), 2, "--groups gives the units itself");
  expect_one_line(with(i, {"--image-granularity", "13"}), 1,
                  "image granularity 13 is larger than the 12x12 patch grid (at most 12 tiles per side)");
  expect_one_line(with(i, {"--image-granularity", "0"}), 2, "--image-granularity must be patch or a number of tiles");
  expect_one_line(with(i, {"--image-search", "coarse-to-fine", "--refine-fraction", "1.5"}), 2,
                  "--refine-fraction must be a finite number in [0, 1], got 1.5");
  expect_one_line(with(i, {"--image-search", "coarse-to-fine", "--method", "ixg"}), 2,
                  "--image-search coarse-to-fine is AtMan's: it takes no --method ixg");
  expect_one_line(with(t, {"--image-search", "coarse-to-fine"}), 1, "image search coarse-to-fine needs an image");
  expect_one_line({"eval", "--model", image, "--data", testing::source_path("data/heldout"), "--out", tmp.path("e"),
                   "--image-granularity", "3"},
                  2, "--image-granularity needs --image-search coarse-to-fine");
}

TEST(E2eUnitsTest, JsonRecordsUnitsAndParams) {
  TempDir tmp;
  const std::string json = tmp.path("out.json"), groups = tmp.path("g.json");
  write_file(groups, R"({"groups": [{"name": "likes", "spans": [[4, 9]]}, {"name": "tea", "spans": [[10, 13]]}]})");
  RunResult r = run_atman({"explain", "--model", test_model("text_only.pt"), "--prompt", "Bob likes tea.", "--target",
                           " x", "--groups", groups, "--token-overlap", "complete", "--json", json, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(read_file(json));
  EXPECT_EQ(j["params"]["token_overlap"], "complete");
  EXPECT_EQ(j["params"]["groups"][0]["name"], "likes");
  ASSERT_EQ(j["positions"].size(), 2u);
  EXPECT_EQ(j["positions"][0]["name"], "likes");
  EXPECT_EQ(j["positions"][0]["members"], (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(j["positions"][1]["members"], (std::vector<int64_t>{8, 9, 10}));
  EXPECT_EQ(j["positions"][1]["coverage"], (std::vector<double>{1, 1, 1}));

  r = run_atman({"explain", "--model", test_model("image_text.pt"), "--image", kImage, "--prompt", "What? Answer:",
                 "--target", " red", "--image-search", "coarse-to-fine", "--refine-fraction", "1", "--json", json, "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(read_file(json));
  EXPECT_EQ(j["params"]["image_search"], "coarse-to-fine");
  EXPECT_EQ(j["params"]["refine_fraction"], 1.0);
  int unrefined = 0, patches = 0;
  for (const auto& p : j["positions"]) {
    if (p["kind"] != "image") continue;
    ++patches;
    if (!p["refined"].get<bool>()) {
      ++unrefined;
      EXPECT_TRUE(p.contains("tile"));
    }
  }
  EXPECT_EQ(patches, 144);
  EXPECT_EQ(unrefined, 140);
}

}  // namespace
}  // namespace atman
