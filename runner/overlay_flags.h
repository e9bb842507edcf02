#pragma once
// The flags that shape the heat map of --overlay and --html (docs/cli.md):
// --colormap, --overlay-alpha, --clip-percentile, --patch-borders.

#include <string>

#include "atman/render/overlay.h"

namespace CLI {
class App;
}

namespace atman::runner {

struct OverlayFlags {
  std::string colour_map = "auto";
  double alpha = OverlayOptions{}.alpha;
  double clip_percentile = OverlayOptions{}.clip_percentile;
  bool patch_borders = false;
};

/// Adds the four flags to `sub`, their defaults shown in --help.
void add_overlay_flags(CLI::App* sub, OverlayFlags& flags);

/// The options the flags ask for; UsageError (one line naming the flag) for
/// an unknown map, an alpha outside [0, 1] or a percentile outside (0, 100].
OverlayOptions overlay_options(const OverlayFlags& flags);

}  // namespace atman::runner
