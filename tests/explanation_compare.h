#pragma once
// Comparing two explanations of the same input (strategies, batch sizes,
// precisions), shared by the explainer and prefix-reuse tests.

#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "atman/core/explanation.h"

namespace atman::testing {

/// The largest |a - b| over every unit's per-target relevance; the units and
/// their members must match.
inline double max_abs_diff(const Explanation& a, const Explanation& b) {
  EXPECT_EQ(a.units.size(), b.units.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.units.size() && i < b.units.size(); ++i) {
    EXPECT_EQ(a.units[i].members, b.units[i].members);
    EXPECT_EQ(a.units[i].per_target.size(), b.units[i].per_target.size());
    for (size_t t = 0; t < a.units[i].per_target.size() && t < b.units[i].per_target.size(); ++t) {
      worst = std::max(worst, std::abs(a.units[i].per_target[t] - b.units[i].per_target[t]));
    }
  }
  return worst;
}

/// The largest |relevance| of any unit.
inline double max_abs(const Explanation& e) {
  double m = 0.0;
  for (const auto& u : e.units) m = std::max(m, std::abs(u.relevance));
  return m;
}

}  // namespace atman::testing
