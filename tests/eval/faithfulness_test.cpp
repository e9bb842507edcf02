// Faithfulness curves (eval/faithfulness.h) and rank correlations
// (eval/rank_correlation.h): rounding, orders, areas on hand-computed curves,
// the curves of a hand-made map on a small model against a direct
// computation, Spearman and Kendall on hand-computed cases.
#include "eval/faithfulness.h"

#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "eval/rank_correlation.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::test_model;

TEST(FaithfulnessTest, RoundHalfUp) {
  EXPECT_EQ(units_to_remove(5, 10), 1);    // 0.5 -> 1
  EXPECT_EQ(units_to_remove(5, 30), 2);    // 1.5 -> 2
  EXPECT_EQ(units_to_remove(5, 50), 3);    // 2.5 -> 3 (not 2: half up, not half even)
  EXPECT_EQ(units_to_remove(1, 49), 0);    // 0.49 -> 0
  EXPECT_EQ(units_to_remove(0, 49), 0);
  EXPECT_EQ(units_to_remove(100, 49), 49);
  EXPECT_EQ(units_to_remove(50, 13), 7);   // 6.5 -> 7
}

// relevance   0.5  2.0  0.5  -1.0  2.0
// MoRF: 2.0 (1), 2.0 (4), 0.5 (0), 0.5 (2), -1.0 (3); LeRF: -1.0 (3), 0.5 (0), 0.5 (2), 2.0 (1), 2.0 (4)
TEST(FaithfulnessTest, OrdersBreakTiesByPosition) {
  const std::vector<double> r = {0.5, 2.0, 0.5, -1.0, 2.0};
  EXPECT_EQ(morf_order(r), (std::vector<size_t>{1, 4, 0, 2, 3}));
  EXPECT_EQ(lerf_order(r), (std::vector<size_t>{3, 0, 2, 1, 4}));
}

// clean -1; MoRF -1, -3, -6 -> drops 0, 2, 5: AOPC 7/3; LeRF -1, -1.5, -2 -> 0, 0.5, 1: AOPC 0.5;
// ABPC 7/3 - 1/2 = 11/6.
TEST(FaithfulnessTest, AreasOnHandComputedCurves) {
  OperatorCurves c;
  c.clean = -1.0;
  c.morf = {-1.0, -3.0, -6.0};
  c.lerf = {-1.0, -1.5, -2.0};
  compute_areas(c);
  EXPECT_DOUBLE_EQ(c.aopc_morf, 7.0 / 3.0);
  EXPECT_DOUBLE_EQ(c.aopc_lerf, 0.5);
  EXPECT_DOUBLE_EQ(c.abpc, 11.0 / 6.0);
  expect_error([] { aopc(0.0, {}); }, {"aopc: empty curve"});
}

TEST(FaithfulnessTest, ParseFractions) {
  EXPECT_EQ(parse_fractions(kDefaultFaithfulnessFractions), (std::vector<double>{0, 1, 5, 10, 20, 50, 100}));
  EXPECT_EQ(parse_fractions("2.5,100"), (std::vector<double>{2.5, 100}));
  for (const char* bad : {"", "0,", "5,1", "0,0", "-1", "101", "x", "0,,5", "nan"}) {
    expect_error([&] { parse_fractions(bad); },
                 {"--faithfulness-fractions must be percentages in [0, 100], ascending, e.g. 0,1,5,10,20,50,100; got \"" +
                  std::string(bad) + "\""});
  }
}

// A hand-made map over the prompt's text tokens (BOS left out) on
// text_only.pt; the curves against forward() on sequences built by hand.
TEST(FaithfulnessTest, CurvesOfAHandMadeMapAgainstADirectComputation) {
  auto model = Model::load(test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Alice lives in Paris. Bob lives in Rome. Question: Where does Alice live? Answer:",
                           " Paris", {}};
  const PreparedInput prepared = explainer.prepare(input, ExplainOptions{});
  const Sequence& seq = prepared.sequence;
  std::vector<int64_t> positions;
  std::vector<double> relevance;
  for (int64_t p = 1; p < seq.target_begin(); ++p) {
    positions.push_back(p);
    relevance.push_back(static_cast<double>((p * 7) % 5));  // ties on purpose
  }
  const int64_t n = static_cast<int64_t>(positions.size());
  const std::vector<double> fractions = {0, 10, 50, 100};
  const Remover remover(*model, input, prepared);
  const ItemFaithfulness f = item_faithfulness(remover, positions, relevance, fractions);

  c10::InferenceMode guard;
  auto log_prob = [&](const std::vector<int64_t>& gone, bool attention) {
    std::vector<int64_t> ids;
    at::Tensor modifier = at::ones({1, seq.length()});
    for (int64_t p = 0; p < seq.target_begin(); ++p) {
      const bool removed = std::find(gone.begin(), gone.end(), p) != gone.end();
      if (!removed || attention) ids.push_back(seq.prompt_ids[p]);
      if (removed) modifier[0][p] = 0.0f;
    }
    const int64_t first_row = static_cast<int64_t>(ids.size()) - 1;
    ids.insert(ids.end(), seq.target_ids.begin(), seq.target_ids.end() - 1);
    const int64_t s = static_cast<int64_t>(ids.size());
    const at::Tensor logits =
        model->forward(model->embed_text(at::tensor(ids, at::kLong).view({1, s})), attention ? modifier : at::ones({1, s}))[0]
            .to(at::kDouble);
    double sum = 0.0;
    for (size_t t = 0; t < seq.target_ids.size(); ++t) {
      sum += at::log_softmax(logits[first_row + static_cast<int64_t>(t)], 0)[seq.target_ids[t]].item<double>();
    }
    return sum;
  };
  for (bool attention : {true, false}) {
    const OperatorCurves& c = attention ? f.attention : f.input;
    EXPECT_NEAR(c.clean, log_prob({}, attention), 1e-4);
    for (size_t i = 0; i < fractions.size(); ++i) {
      std::vector<int64_t> most, least;
      const std::vector<size_t> morf = morf_order(relevance), lerf = lerf_order(relevance);
      for (int64_t k = 0; k < units_to_remove(fractions[i], n); ++k) {
        most.push_back(positions[morf[k]]);
        least.push_back(positions[lerf[k]]);
      }
      EXPECT_NEAR(c.morf[i], log_prob(most, attention), 1e-4) << attention << " " << fractions[i];
      EXPECT_NEAR(c.lerf[i], log_prob(least, attention), 1e-4) << attention << " " << fractions[i];
    }
    // At 100% both remove everything, but in different batches of the sweep:
    // the same log-probability summed in another order (issue 28).
    EXPECT_NEAR(c.morf.back(), c.lerf.back(), testing::float32_reorder_tolerance(c.morf.back()));
    EXPECT_NEAR(c.abpc, c.aopc_morf - c.aopc_lerf, 1e-12);
  }
  expect_error([&] { faithfulness_curves(remover, RemovalOperator::kInput, positions, {1.0}, fractions); },
               {"faithfulness_curves: ", " positions and 1 relevance values"});
}

// a = 1 2 3 4, b = 1 3 2 4: d = 0 1 1 0, rho = 1 - 6 * 2 / (4 * 15) = 0.8;
// pairs: 6, one discordant (2, 3): tau = (5 - 1) / 6 = 2/3.
TEST(RankCorrelationTest, HandComputed) {
  EXPECT_NEAR(spearman({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-12);
  EXPECT_NEAR(kendall_tau_b({1, 2, 3, 4}, {1, 3, 2, 4}), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(spearman({1, 2, 3}, {30, 20, 10}), -1.0, 1e-12);
  EXPECT_NEAR(kendall_tau_b({1, 2, 3}, {30, 20, 10}), -1.0, 1e-12);
  // Ties: a = 1 1 2, b = 1 2 3. Ranks a 1.5 1.5 3, b 1 2 3: rho = 1.5 / sqrt(1.5 * 2) = 0.866...;
  // tau-b: pairs (0,1) tied in a, (0,2) and (1,2) concordant: 2 / sqrt((3 - 1) * 3).
  EXPECT_NEAR(spearman({1, 1, 2}, {1, 2, 3}), 1.5 / std::sqrt(3.0), 1e-12);
  EXPECT_NEAR(kendall_tau_b({1, 1, 2}, {1, 2, 3}), 2.0 / std::sqrt(6.0), 1e-12);
  EXPECT_TRUE(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  EXPECT_TRUE(std::isnan(kendall_tau_b({5}, {2})));
  expect_error([] { spearman({1, 2}, {1}); }, {"spearman: maps of 2 and 1 values"});
}

}  // namespace
}  // namespace atman
