#include "unit_flags.h"

#include <CLI/CLI.hpp>

#include "atman/core/custom_groups.h"
#include "atman/core/names.h"
#include "commands.h"
#include "flag_checks.h"

namespace atman::runner {

int64_t parse_image_granularity(const std::string& text) {
  if (text == "patch") return 0;
  size_t used = 0;
  int64_t n = 0;
  try {
    n = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || n < 1) {
    throw UsageError("--image-granularity must be patch or a number of tiles per side >= 1, got \"" + text + "\"");
  }
  return n;
}

void add_text_unit_flags(CLI::App* sub, UnitFlags& flags) {
  sub->add_option("--delimiter", flags.delimiter, "--granularity delimiter: a unit ends with each occurrence of this text");
  sub->add_option("--target-units", flags.target_units,
                  "--granularity auto: the coarsest of sentence, word, token giving at least this many text units")
      ->capture_default_str();
  sub->add_option("--groups", flags.groups_file,
                  "Custom units from a JSON file: {\"groups\": [{\"name\": ..., \"spans\": [[start, end], ...]} or "
                  "{\"name\": ..., \"rect\": [x0, y0, x1, y1]}, ...]} (characters of the prompt, 0-1 image coordinates)");
  sub->add_option("--token-overlap", flags.token_overlap,
                  "A custom group covering part of a token or patch: partial (suppression scaled by the covered "
                  "fraction) or complete (the full factor)")
      ->check(CLI::IsMember(token_overlap_names()))
      ->capture_default_str();
}

void add_image_unit_flags(CLI::App* sub, UnitFlags& flags) {
  sub->add_option("--image-granularity", flags.image_granularity,
                  "Image units: patch, or N for N x N tiles of patches (at most the grid's side)")
      ->capture_default_str();
  sub->add_option("--image-search", flags.image_search,
                  "full, or coarse-to-fine: tiles first (--image-granularity, default 3), then only the relevant "
                  "ones refined down to patches (approximate, faster)")
      ->check(CLI::IsMember(image_search_names()))
      ->capture_default_str();
  sub->add_option("--refine-fraction", flags.refine_fraction,
                  "coarse-to-fine: refine tiles whose relevance is at least this fraction of the level's top (0: "
                  "every tile, the full sweep)")
      ->capture_default_str();
}

void note_given_unit_flags(CLI::App* sub, UnitFlags& flags) {
  flags.has_delimiter = sub->get_option_no_throw("--delimiter") && sub->get_option("--delimiter")->count() > 0;
  flags.has_target_units = sub->get_option_no_throw("--target-units") && sub->get_option("--target-units")->count() > 0;
}

void apply_unit_flags(const UnitFlags& flags, const std::string& method, ExplainOptions& o) {
  check_real_flag("--refine-fraction", flags.refine_fraction, 0.0, 1.0);
  check_int_flag("--target-units", flags.target_units, 1, 1000000);
  o.image_granularity = parse_image_granularity(flags.image_granularity);
  o.image_search = parse_image_search(flags.image_search);  // CLI11 has checked the names
  o.refine_fraction = flags.refine_fraction;
  o.token_overlap = parse_token_overlap(flags.token_overlap);
  o.target_units = flags.target_units;
  o.delimiter = flags.delimiter;
  if (o.granularity == Granularity::kDelimiter && flags.delimiter.empty()) {
    throw UsageError("--granularity delimiter needs --delimiter with a non-empty text");
  }
  if (flags.has_delimiter && o.granularity != Granularity::kDelimiter) {
    throw UsageError("--delimiter needs --granularity delimiter");
  }
  if (flags.has_target_units && o.granularity != Granularity::kAuto) {
    throw UsageError("--target-units needs --granularity auto");
  }
  if (o.image_search == ImageSearch::kCoarseToFine && method != "atman") {
    throw UsageError("--image-search coarse-to-fine is AtMan's: it takes no --method " + method);
  }
  if (flags.groups_file.empty()) return;
  if (o.granularity != Granularity::kToken || o.image_granularity != 0 || o.image_search != ImageSearch::kFull) {
    throw UsageError("--groups gives the units itself: it takes no --granularity, --image-granularity or --image-search");
  }
  o.groups = read_custom_groups(flags.groups_file);
}

}  // namespace atman::runner
