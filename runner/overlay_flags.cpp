#include "overlay_flags.h"

#include <cmath>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "atman/render/colour_map.h"
#include "commands.h"

namespace atman::runner {

void add_overlay_flags(CLI::App* sub, OverlayFlags& flags) {
  sub->add_option("--colormap", flags.colour_map,
                  fmt::format("Colour map of the heat: {} (auto: viridis, or the diverging map for signed relevance)",
                              fmt::join(colour_map_names(), ", ")))
      ->capture_default_str();
  sub->add_option("--overlay-alpha", flags.alpha, "Opacity of the heat at the top of the scale, in [0, 1] (0 at relevance 0)")
      ->capture_default_str();
  sub->add_option("--clip-percentile", flags.clip_percentile,
                  "Top of the colour scale: this percentile of the patches' values, in (0, 100] (100: the largest)")
      ->capture_default_str();
  sub->add_flag("--patch-borders", flags.patch_borders, "Outline every image unit (patch or tile) on the heat map");
}

OverlayOptions overlay_options(const OverlayFlags& flags) {
  OverlayOptions options;
  try {
    options.colour_map = parse_colour_map(flags.colour_map);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--colormap: ") + e.what());
  }
  if (!(flags.alpha >= 0.0 && flags.alpha <= 1.0)) {
    throw UsageError(fmt::format("--overlay-alpha must be a number in [0, 1], got {}", flags.alpha));
  }
  if (!(flags.clip_percentile > 0.0 && flags.clip_percentile <= 100.0)) {
    throw UsageError(fmt::format("--clip-percentile must be a number in (0, 100], got {}", flags.clip_percentile));
  }
  options.alpha = flags.alpha;
  options.clip_percentile = flags.clip_percentile;
  options.patch_borders = flags.patch_borders;
  return options;
}

}  // namespace atman::runner
