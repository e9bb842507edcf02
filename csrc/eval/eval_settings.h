#pragma once
// The AtMan parameter settings an evaluation sweeps (`atman eval --sweep`,
// docs/evaluation.md).

#include <optional>
#include <string>
#include <vector>

#include "atman/core/options.h"

namespace atman {

/// One AtMan parameter setting of a sweep.
struct EvalSetting {
  double suppression_factor = kDefaultSuppressionFactor;
  std::optional<double> conceptual_threshold = kDefaultConceptualThreshold;
  /// "f=0.1,kappa=0.6" / "f=0.1,kappa=off".
  std::string label() const;
};

/// The settings of `--sweep KEY=V1,V2,...` specs (keys suppression_factor and
/// conceptual_threshold; "off" turns conceptual suppression off). Without
/// `grid`, each key is varied alone with the other at `base` (the base
/// setting first, duplicates dropped); with `grid`, every combination of the
/// swept keys' values. Throws std::invalid_argument naming a bad spec.
std::vector<EvalSetting> sweep_settings(const EvalSetting& base, const std::vector<std::string>& specs,
                                        bool grid = false);

}  // namespace atman
