// The settings of `atman eval --sweep` (eval/eval_settings.h).
#include "eval/eval_settings.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

TEST(EvalSettingsTest, SweepSettings) {
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

}  // namespace
}  // namespace atman
