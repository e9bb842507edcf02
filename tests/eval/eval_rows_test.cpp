// rows.jsonl and rows.csv records of `atman eval` (eval/eval_rows.h).
#include "eval/eval_rows.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

TEST(EvalRowsTest, JsonRoundTripAndCsvQuoting) {
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
}

}  // namespace
}  // namespace atman
