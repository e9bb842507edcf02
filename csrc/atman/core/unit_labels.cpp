#include "atman/core/unit_labels.h"

#include <c10/util/Exception.h>

namespace atman {

void label_units(const std::vector<UnitLabel>& labels, std::optional<Granularity> chosen_granularity,
                 Explanation& explanation) {
  explanation.chosen_granularity = chosen_granularity;
  if (labels.empty() || explanation.units.empty()) return;  // a rank without units (sharded sweeps)
  TORCH_CHECK(labels.size() == explanation.units.size(), "label_units: ", labels.size(), " labels for ",
              explanation.units.size(), " units");
  for (size_t g = 0; g < labels.size(); ++g) {
    ExplainedUnit& u = explanation.units[g];
    const UnitLabel& l = labels[g];
    u.name = l.name;
    u.coverage = l.coverage;
    u.tile_row0 = l.tile_row0;
    u.tile_row1 = l.tile_row1;
    u.tile_col0 = l.tile_col0;
    u.tile_col1 = l.tile_col1;
    u.refined = l.refined;
  }
}

}  // namespace atman
