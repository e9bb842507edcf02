// The float32 recomputation of a bfloat16 sweep's top units
// (core/float32_recompute.h), and what --precision auto chooses
// (core/precision_choice.h).

#include "atman/core/float32_recompute.h"

#include <cstdlib>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "atman/core/precision_choice.h"
#include "test_util.h"

namespace atman {
namespace {

// R [N, 2] whose per-unit sums are `sums` (split evenly over two targets).
at::Tensor relevance_of(const std::vector<double>& sums) {
  at::Tensor r = at::empty({static_cast<int64_t>(sums.size()), 2}, at::kDouble);
  for (size_t i = 0; i < sums.size(); ++i) {
    r[static_cast<int64_t>(i)][0] = sums[i] / 2;
    r[static_cast<int64_t>(i)][1] = sums[i] / 2;
  }
  return r;
}

TEST(Float32RecomputeTest, TheTopAndThoseWithinTheMargin) {
  // Sorted: 10 (row 3), 8 (row 0), 7.5 (row 5), 5 (row 1), 1 (row 2), -4 (row 4).
  const at::Tensor r = relevance_of({8, 5, 1, 10, -4, 7.5});
  EXPECT_EQ(rows_to_recompute(r, 2, 0.0), (std::vector<int64_t>{0, 3}));
  // The 2nd is 8; the margin 0.1 x max |R| (10) = 1 takes 7.5 in, not 5.
  EXPECT_EQ(rows_to_recompute(r, 2, 0.1), (std::vector<int64_t>{0, 3, 5}));
  EXPECT_EQ(rows_to_recompute(r, 2, 0.35), (std::vector<int64_t>{0, 1, 3, 5}));
  EXPECT_EQ(rows_to_recompute(r, 0, 0.5), (std::vector<int64_t>{}));
  EXPECT_EQ(rows_to_recompute(r, 100, 0.0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

TEST(Float32RecomputeTest, NonFiniteValuesRankLast) {
  const at::Tensor r = relevance_of({1, NAN, 3, INFINITY, 2});
  EXPECT_EQ(rows_to_recompute(r, 2, 0.0), (std::vector<int64_t>{2, 4}));
  // The 4th is a non-finite one: every unit tied with it (the other) comes along.
  EXPECT_EQ(rows_to_recompute(r, 4, 0.0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(rows_to_recompute(relevance_of({2, 1, 2, 0}), 1, 0.0), (std::vector<int64_t>{0, 2}));  // a tie at the top
}

TEST(PrecisionChoiceTest, AutoFollowsTheCpuAndTheWidth) {
  ModelConfig wide;
  wide.hidden_size = kBFloat16MinWidth;
  ModelConfig narrow;
  narrow.hidden_size = kBFloat16MinWidth - 1;
  EXPECT_EQ(choose_precision(Precision::kFloat32, wide).precision, Precision::kFloat32);
  EXPECT_EQ(choose_precision(Precision::kBFloat16, narrow).precision, Precision::kBFloat16);  // as asked
  const PrecisionChoice small = choose_precision(Precision::kAuto, narrow);
  EXPECT_EQ(small.precision, Precision::kFloat32);
  EXPECT_EQ(choose_precision(Precision::kAuto, wide).precision,
            cpu_has_bfloat16() ? Precision::kBFloat16 : Precision::kFloat32);
  // The test switch: a CPU without bfloat16 instructions.
  setenv("ATMAN_ASSUME_NO_BF16", "1", 1);
  const PrecisionChoice none = choose_precision(Precision::kAuto, wide);
  unsetenv("ATMAN_ASSUME_NO_BF16");
  EXPECT_EQ(none.precision, Precision::kFloat32);
  EXPECT_NE(none.why.find("no bfloat16 instructions"), std::string::npos) << none.why;
}

// A bfloat16 explanation: its recomputed units are the float32 sweep's
// values, its clean cross-entropies the float32 ones, the others bfloat16's.
TEST(Float32RecomputeTest, RecomputedUnitsAreTheFloat32Sweeps) {
  auto model = Model::load(testing::test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Alice lives in Paris. Bob works as a baker in Rome.", " Paris", {}};
  ExplainOptions fp32;
  fp32.batch_size = 8;
  fp32.threads = 1;
  ExplainOptions bf16 = fp32;
  bf16.precision = Precision::kBFloat16;
  bf16.recompute_top = 3;
  const Explanation exact = explainer.explain(input, fp32);
  const Explanation reduced = explainer.explain(input, bf16);
  ASSERT_EQ(exact.units.size(), reduced.units.size());
  ASSERT_EQ(reduced.params.precision, Precision::kBFloat16);
  int64_t recomputed = 0;
  for (size_t g = 0; g < exact.units.size(); ++g) {
    EXPECT_FALSE(exact.units[g].recomputed);
    if (!reduced.units[g].recomputed) continue;
    ++recomputed;
    EXPECT_NEAR(reduced.units[g].relevance, exact.units[g].relevance, 1e-5) << g;
  }
  EXPECT_GE(recomputed, 3);
  EXPECT_LT(recomputed, static_cast<int64_t>(exact.units.size()));
  for (size_t t = 0; t < exact.targets.size(); ++t) {
    EXPECT_NEAR(reduced.targets[t].ce, exact.targets[t].ce, 1e-5);
  }
  EXPECT_EQ(reduced.stats.forward_passes, exact.stats.forward_passes + recomputed + 1);
}

}  // namespace
}  // namespace atman
