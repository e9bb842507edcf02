#pragma once
// The evaluation metrics of docs/evaluation.md, per explanation, and the
// bootstrap interval of their mean.
//
// With r the relevance of the evaluated positions, x = max(r, 0) (the map
// clipped at 0) and y the binary ground truth over the same positions:
//
//   precision (paper)  sum(x * y) / sum(x)              0 when no x is positive
//   recall (paper)     sum((x / max x) * y) / sum(y)     0 when no x is positive
//   average precision  ranking AP of x against y, ties handled as
//                      scikit-learn's average_precision_score: positions
//                      with equal x enter together (one threshold), so all
//                      non-positive positions (x = 0) come last, together
//   pointing game      1 when the top position (argmax of r, the first one
//                      on ties) lies in y, else 0
//
// Every metric is NaN when y has no positive position (the item is then
// reported as having no ground truth and left out of the means).
//
// Usage:
//   ItemMetrics m = compute_metrics({0.5, 0.0, -1.0, 2.0}, {1, 0, 0, 1});
//   MeanInterval ci = bootstrap_mean(values);   // mean and 95% percentile interval

#include <cstdint>
#include <vector>

namespace atman {

struct ItemMetrics {
  double precision = 0.0;
  double recall = 0.0;
  double average_precision = 0.0;
  double pointing = 0.0;
};

double paper_precision(const std::vector<double>& relevance, const std::vector<int>& truth);
double paper_recall(const std::vector<double>& relevance, const std::vector<int>& truth);
double average_precision(const std::vector<double>& relevance, const std::vector<int>& truth);
double pointing_game(const std::vector<double>& relevance, const std::vector<int>& truth);

/// All four. Throws std::invalid_argument when the sizes differ or are 0.
ItemMetrics compute_metrics(const std::vector<double>& relevance, const std::vector<int>& truth);

/// Mean of the finite values and its bootstrap percentile interval: `resamples`
/// means of resamples drawn with replacement by a std::mt19937_64 seeded with
/// `seed` (same values, same order, same seed -> same interval). The bounds are
/// the (1 - level)/2 and (1 + level)/2 quantiles (linear interpolation, as
/// numpy's default). NaN values are left out (n counts the rest); with n = 0
/// everything is NaN, with n = 1 the interval is the value itself.
struct MeanInterval {
  double mean = 0.0;
  double low = 0.0;
  double high = 0.0;
  int64_t n = 0;
};
MeanInterval bootstrap_mean(const std::vector<double>& values, int64_t resamples = 2000, uint64_t seed = 20230118,
                            double level = 0.95);

}  // namespace atman
