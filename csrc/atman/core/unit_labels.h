#pragma once
// Carries how each explained unit was formed (names, coverage, tiles,
// refinement; core/units.h) onto an assembled Explanation's units.

#include <optional>
#include <vector>

#include "atman/core/explanation.h"
#include "atman/core/units.h"

namespace atman {

/// Copies labels[g] onto explanation.units[g] (one label per unit; empty
/// labels leave the units as assembled) and kAuto's chosen granularity.
void label_units(const std::vector<UnitLabel>& labels, std::optional<Granularity> chosen_granularity,
                 Explanation& explanation);

}  // namespace atman
