// The summary of `atman eval` (eval/eval_summary.h) on two hand-made rows.
#include "eval/eval_summary.h"

#include <algorithm>
#include <cmath>
#include <string>

#include <gtest/gtest.h>

namespace atman {
namespace {

TEST(EvalSummaryTest, MeansAccuracyAndTheMarkdownTable) {
  EvalRow row;
  row.task = "shapes_vqa";
  row.item = "s-1";
  row.method = "atman";
  row.setting = "f=0.1,kappa=off";
  row.suppression_factor = 0.1;
  row.metrics = {0.5, std::nan(""), 0.25, 1.0};
  row.seconds = 1.5;
  row.correct = 1;
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

TEST(EvalSummaryTest, CsvLinesHaveTheHeadersColumnsAndJsonHasNoNaN) {
  EvalRow row;
  row.task = "t";
  row.method = "loo";
  row.setting = "-";
  row.metrics = {0.5, std::nan(""), 0.25, 1.0};
  const auto summary = summarize({row}, 50, 1);
  const std::string csv = summary_to_csv(summary);
  const auto header_end = csv.find('\n');
  const auto commas = [](const std::string& line) { return std::count(line.begin(), line.end(), ','); };
  const std::string header = csv.substr(0, header_end);
  const std::string line = csv.substr(header_end + 1, csv.find('\n', header_end + 1) - header_end - 1);
  EXPECT_EQ(commas(line), commas(header)) << csv;
  const std::string json = summary_to_json(summary);
  EXPECT_EQ(json.find("NaN"), std::string::npos) << json;
  EXPECT_NE(json.find("\"recall\": {\n      \"mean\": null"), std::string::npos) << json;
}

}  // namespace
}  // namespace atman
