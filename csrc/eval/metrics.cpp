#include "eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

namespace atman {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_sizes(const std::vector<double>& relevance, const std::vector<int>& truth, const char* what) {
  if (relevance.size() != truth.size() || relevance.empty()) {
    throw std::invalid_argument(std::string(what) + ": expected relevance and ground truth of the same non-zero " +
                                "size, got " + std::to_string(relevance.size()) + " and " +
                                std::to_string(truth.size()));
  }
}

double clipped(double r) { return std::isfinite(r) && r > 0.0 ? r : 0.0; }

int64_t positives(const std::vector<int>& truth) {
  return std::count_if(truth.begin(), truth.end(), [](int y) { return y != 0; });
}

double quantile(const std::vector<double>& sorted, double q) {
  const double at = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - static_cast<double>(lo));
}

}  // namespace

double paper_precision(const std::vector<double>& relevance, const std::vector<int>& truth) {
  check_sizes(relevance, truth, "paper_precision");
  if (positives(truth) == 0) return kNaN;
  double hit = 0.0, total = 0.0;
  for (size_t i = 0; i < relevance.size(); ++i) {
    const double x = clipped(relevance[i]);
    total += x;
    if (truth[i]) hit += x;
  }
  return total > 0.0 ? hit / total : 0.0;
}

double paper_recall(const std::vector<double>& relevance, const std::vector<int>& truth) {
  check_sizes(relevance, truth, "paper_recall");
  const int64_t p = positives(truth);
  if (p == 0) return kNaN;
  double top = 0.0;
  for (double r : relevance) top = std::max(top, clipped(r));
  if (top <= 0.0) return 0.0;
  double hit = 0.0;
  for (size_t i = 0; i < relevance.size(); ++i) {
    if (truth[i]) hit += clipped(relevance[i]) / top;
  }
  return hit / static_cast<double>(p);
}

double average_precision(const std::vector<double>& relevance, const std::vector<int>& truth) {
  check_sizes(relevance, truth, "average_precision");
  const int64_t p = positives(truth);
  if (p == 0) return kNaN;
  std::vector<size_t> order(relevance.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return clipped(relevance[a]) > clipped(relevance[b]); });
  double ap = 0.0, previous_recall = 0.0;
  int64_t tp = 0, seen = 0;
  for (size_t k = 0; k < order.size();) {
    const double score = clipped(relevance[order[k]]);
    // One threshold per distinct score: the tied positions enter together.
    while (k < order.size() && clipped(relevance[order[k]]) == score) {
      tp += truth[order[k]] != 0;
      ++seen;
      ++k;
    }
    const double recall = static_cast<double>(tp) / static_cast<double>(p);
    const double precision = static_cast<double>(tp) / static_cast<double>(seen);
    ap += (recall - previous_recall) * precision;
    previous_recall = recall;
  }
  return ap;
}

double pointing_game(const std::vector<double>& relevance, const std::vector<int>& truth) {
  check_sizes(relevance, truth, "pointing_game");
  if (positives(truth) == 0) return kNaN;
  size_t best = 0;
  double best_value = -std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < relevance.size(); ++i) {
    const double r = std::isfinite(relevance[i]) ? relevance[i] : -std::numeric_limits<double>::infinity();
    if (r > best_value) {
      best_value = r;
      best = i;
    }
  }
  return truth[best] ? 1.0 : 0.0;
}

ItemMetrics compute_metrics(const std::vector<double>& relevance, const std::vector<int>& truth) {
  check_sizes(relevance, truth, "compute_metrics");
  return {paper_precision(relevance, truth), paper_recall(relevance, truth), average_precision(relevance, truth),
          pointing_game(relevance, truth)};
}

MeanInterval bootstrap_mean(const std::vector<double>& values, int64_t resamples, uint64_t seed, double level) {
  if (resamples < 1) throw std::invalid_argument("bootstrap_mean: resamples must be >= 1, got " +
                                                 std::to_string(resamples));
  if (!(level > 0.0 && level < 1.0)) throw std::invalid_argument("bootstrap_mean: level must be in (0, 1)");
  std::vector<double> finite;
  for (double v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  MeanInterval out;
  out.n = static_cast<int64_t>(finite.size());
  if (finite.empty()) {
    out.mean = out.low = out.high = kNaN;
    return out;
  }
  const double n = static_cast<double>(finite.size());
  out.mean = std::accumulate(finite.begin(), finite.end(), 0.0) / n;
  if (finite.size() == 1) {
    out.low = out.high = out.mean;
    return out;
  }
  std::mt19937_64 rng(seed);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (double& m : means) {
    double sum = 0.0;
    // Index = floor(u * n) with u in [0, 1) from 53 random bits: the same on every platform.
    for (size_t k = 0; k < finite.size(); ++k) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      sum += finite[std::min(finite.size() - 1, static_cast<size_t>(u * n))];
    }
    m = sum / n;
  }
  std::sort(means.begin(), means.end());
  out.low = quantile(means, (1.0 - level) / 2.0);
  out.high = quantile(means, (1.0 + level) / 2.0);
  return out;
}

}  // namespace atman
