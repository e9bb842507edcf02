// Sweep settings and row I/O of `atman eval` (eval/eval_run.h).
#include "eval/eval_run.h"

#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

TEST(EvalRunTest, SweepSettings) {
  const EvalSetting base;
  EXPECT_EQ(base.label(), "f=0.1,kappa=0.6");
  auto one = sweep_settings(base, {"suppression_factor=0,0.1,0.5", "conceptual_threshold=off,0.6,0.8"});
  std::vector<std::string> labels;
  for (const auto& s : one) labels.push_back(s.label());
  EXPECT_EQ(labels, (std::vector<std::string>{"f=0.1,kappa=0.6", "f=0,kappa=0.6", "f=0.5,kappa=0.6",
                                              "f=0.1,kappa=off", "f=0.1,kappa=0.8"}));
  EXPECT_EQ(sweep_settings(base, {"suppression-factor=0.2", "conceptual_threshold=off,0.5"}, true).size(), 1u + 2u);
  EXPECT_EQ(sweep_settings(base, {}).size(), 1u);
  expect_error([&] { sweep_settings(base, {"kappa=0.5"}); }, {"--sweep key must be suppression_factor or conceptual_threshold, got \"kappa\""});
  expect_error([&] { sweep_settings(base, {"suppression_factor=-1"}); }, {"suppression_factor must be a finite number >= 0, got \"-1\""});
  expect_error([&] { sweep_settings(base, {"conceptual_threshold=2"}); }, {"in [-1, 1] or off, got \"2\""});
  expect_error([&] { sweep_settings(base, {"suppression_factor"}); }, {"--sweep must be KEY=V1,V2"});
}

TEST(EvalRunTest, RowRoundTripAndSummary) {
  EvalRow row;
  row.task = "shapes_vqa";
  row.item = "s-1";
  row.method = "atman";
  row.setting = "f=0.1,kappa=off";
  row.suppression_factor = 0.1;
  row.metrics = {0.5, std::nan(""), 0.25, 1.0};
  row.seconds = 1.5;
  row.correct = 1;
  row.error = "a, \"quoted\" error";
  const EvalRow back = row_from_json(row_to_json(row));
  EXPECT_EQ(back.setting, row.setting);
  EXPECT_FALSE(back.conceptual_threshold.has_value());
  EXPECT_DOUBLE_EQ(back.metrics.precision, 0.5);
  EXPECT_TRUE(std::isnan(back.metrics.recall));
  EXPECT_EQ(back.error, row.error);
  EXPECT_NE(row_to_csv(row).find(",\"a, \"\"quoted\"\" error\""), std::string::npos) << row_to_csv(row);
  expect_error([] { row_from_json("{\"task\": 1}"); }, {"bad row"});
  expect_error([] { row_from_json("{\"task\""); }, {"not a JSON object"});

  EvalRow other = row;
  other.metrics = {1.0, 1.0, 1.0, 0.0};
  other.correct = 0;
  const auto summary = summarize({row, other}, 200, 1);
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_DOUBLE_EQ(summary[0].precision.mean, 0.75);
  EXPECT_EQ(summary[0].recall.n, 1);
  EXPECT_DOUBLE_EQ(summary[0].accuracy, 0.5);
  EXPECT_NE(format_summary_markdown(summary).find("| atman | f=0.1,kappa=off | 0.750 ["), std::string::npos)
      << format_summary_markdown(summary);
}

}  // namespace
}  // namespace atman
