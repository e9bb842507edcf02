#pragma once
// Faithfulness of a relevance map (docs/evaluation.md#faithfulness-deletion-curves): the
// deletion curves of `atman eval --faithfulness`. The scored units (the
// positions the localisation metrics score: image patches, or the prompt's
// text tokens without BOS) are removed k = round-half-up(p x N) at a time
// for each fraction p, in the map's order:
//
//   MoRF   most relevant first  (relevance descending)
//   LeRF   least relevant first (relevance ascending)
//
// ties broken by ascending position in both orders, and the target's
// log-probability (summed over its tokens) is recorded at each step, under
// each removal operator (atman/methods/removal.h). With c(p) the curve and
// c0 the clean log-probability (nothing removed):
//
//   AOPC_MoRF = mean over the fractions (0 included when listed) of c0 - c_MoRF(p)   comprehensiveness
//   AOPC_LeRF = the same for the LeRF curve                                          sufficiency
//   ABPC      = AOPC_MoRF - AOPC_LeRF   (larger is better)
//
// Usage:
//   std::vector<double> fractions = parse_fractions("0,1,5,10,20,50,100");
//   OperatorCurves c = faithfulness_curves(remover, RemovalOperator::kAttention, positions, relevance, fractions);

#include <cstdint>
#include <string>
#include <vector>

#include "atman/methods/removal.h"

namespace atman {

/// The default of --faithfulness-fractions (percent).
inline constexpr char kDefaultFaithfulnessFractions[] = "0,1,5,10,20,50,100";

/// "0,1,5,..." (percent) -> the fractions; each a number in [0, 100], strictly
/// ascending. Throws std::invalid_argument naming the bad text.
std::vector<double> parse_fractions(const std::string& text);

/// round-half-up(percent / 100 x n).
int64_t units_to_remove(double percent, int64_t n);

/// Indices into `relevance`, most relevant first (ties: lower index first).
std::vector<size_t> morf_order(const std::vector<double>& relevance);
/// Indices into `relevance`, least relevant first (ties: lower index first).
std::vector<size_t> lerf_order(const std::vector<double>& relevance);

/// The curves of one removal operator and their areas.
struct OperatorCurves {
  double clean = 0.0;              // log p(target), nothing removed
  std::vector<double> morf, lerf;  // log p(target) at each fraction
  double aopc_morf = 0.0, aopc_lerf = 0.0, abpc = 0.0;
};

/// mean_i (clean - curve[i]). Throws std::invalid_argument for an empty curve.
double aopc(double clean, const std::vector<double>& curve);
/// Fills aopc_morf, aopc_lerf and abpc from clean, morf and lerf.
void compute_areas(OperatorCurves& curves);

/// The curves of `relevance` (one value per scored position, same order as
/// `positions`) under `op`. Throws std::invalid_argument when the sizes
/// differ or no position is given.
OperatorCurves faithfulness_curves(const Remover& remover, RemovalOperator op, const std::vector<int64_t>& positions,
                                   const std::vector<double>& relevance, const std::vector<double>& fractions);

/// Per row of `atman eval`: the fractions and both operators' curves.
struct ItemFaithfulness {
  std::vector<double> fractions;
  OperatorCurves attention, input;
};
ItemFaithfulness item_faithfulness(const Remover& remover, const std::vector<int64_t>& positions,
                                   const std::vector<double>& relevance, const std::vector<double>& fractions);

}  // namespace atman
