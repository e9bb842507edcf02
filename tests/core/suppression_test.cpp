#include "atman/core/suppression.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace atman {
namespace {

TEST(SuppressionTest, CosineSimilarityIsClippedAndHandComputed) {
  // e0 = (1, 0), e1 = (1, 1)/?, e2 = (-1, 0), e3 = (0, 0)
  at::Tensor e = at::tensor({1.0, 0.0, 1.0, 1.0, -2.0, 0.0, 0.0, 0.0}, at::kFloat).view({4, 2});
  at::Tensor c = cosine_similarity_matrix(e);
  ASSERT_EQ(c.sizes(), (at::IntArrayRef{4, 4}));
  EXPECT_NEAR(c[0][0].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(c[0][1].item<double>(), 1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(c[0][2].item<double>(), -1.0, 1e-12);
  EXPECT_NEAR(c[1][2].item<double>(), -1.0 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(c[3][0].item<double>(), 0.0);  // zero vector: similarity 0, not NaN
  EXPECT_LE(c.max().item<double>(), 1.0);
  EXPECT_GE(c.min().item<double>(), -1.0);
}

TEST(SuppressionTest, ConceptualFactor) {
  EXPECT_DOUBLE_EQ(conceptual_factor(1.0, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(conceptual_factor(0.0, 0.1), 1.0);
  EXPECT_DOUBLE_EQ(conceptual_factor(0.7, 0.1), 0.9 * 0.3 + 0.1);
  EXPECT_DOUBLE_EQ(conceptual_factor(-0.5, 0.1), 1.0);  // outside [0, 1]: untouched
}

TEST(SuppressionTest, SingleTokenRows) {
  at::Tensor rows = modifier_rows(at::Tensor(), 4, {{0}, {2}}, 0.1, std::nullopt);
  at::Tensor expected = at::tensor({0.1f, 1.f, 1.f, 1.f, 1.f, 1.f, 0.1f, 1.f}).view({2, 4});
  EXPECT_TRUE(at::allclose(rows, expected));
  EXPECT_EQ(rows.scalar_type(), at::kFloat);
}

TEST(SuppressionTest, ConceptualRowsHandComputed) {
  // Similarities: 0~1 at 0.8, 0~2 at 0.5, 1~2 at 0.65, 2~3 at -0.9.
  at::Tensor c = at::eye(4, at::kDouble);
  auto set = [&](int a, int b, double v) { c[a][b] = v; c[b][a] = v; };
  set(0, 1, 0.8);
  set(0, 2, 0.5);
  set(1, 2, 0.65);
  set(2, 3, -0.9);
  const double f = 0.2;
  at::Tensor rows = modifier_rows(c, 4, {{0}, {1}, {2}, {3}}, f, 0.6).to(at::kDouble);
  auto g = [&](double s) { return (1 - f) * (1 - s) + f; };
  const double expected[4][4] = {
      {f, g(0.8), 1, 1},
      {g(0.8), f, g(0.65), 1},
      {1, g(0.65), f, 1},
      {1, 1, 1, f},
  };
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(rows[i][j].item<double>(), expected[i][j], 1e-7) << i << "," << j;
  }
}

TEST(SuppressionTest, GroupRowsTakeStrongestNeighbourFactor) {
  at::Tensor c = at::eye(5, at::kDouble);
  auto set = [&](int a, int b, double v) { c[a][b] = v; c[b][a] = v; };
  set(0, 4, 0.7);
  set(1, 4, 0.9);
  set(0, 1, 0.95);  // members are suppressed with f regardless
  const double f = 0.1;
  at::Tensor rows = modifier_rows(c, 5, {{0, 1}, {2, 3}}, f, 0.6).to(at::kDouble);
  EXPECT_NEAR(rows[0][0].item<double>(), f, 1e-7);
  EXPECT_NEAR(rows[0][1].item<double>(), f, 1e-7);
  EXPECT_NEAR(rows[0][2].item<double>(), 1.0, 1e-7);
  EXPECT_NEAR(rows[0][4].item<double>(), (1 - f) * (1 - 0.9) + f, 1e-7);
  EXPECT_NEAR(rows[1][2].item<double>(), f, 1e-7);
  EXPECT_NEAR(rows[1][3].item<double>(), f, 1e-7);
  EXPECT_NEAR(rows[1][4].item<double>(), 1.0, 1e-7);
  // Without conceptual suppression only the members.
  at::Tensor single = modifier_rows(at::Tensor(), 5, {{0, 1}}, f, std::nullopt).to(at::kDouble);
  EXPECT_NEAR(single[0][4].item<double>(), 1.0, 1e-7);
  EXPECT_NEAR(single.sum().item<double>(), 3 + 2 * f, 1e-6);
}

TEST(SuppressionTest, RejectsBadGroups) {
  EXPECT_THROW(modifier_rows(at::Tensor(), 3, {{3}}, 0.1, std::nullopt), c10::Error);
  EXPECT_THROW(modifier_rows(at::Tensor(), 3, {{}}, 0.1, std::nullopt), c10::Error);
  EXPECT_THROW(modifier_rows(at::eye(2), 3, {{0}}, 0.1, 0.6), c10::Error);
}

}  // namespace
}  // namespace atman
