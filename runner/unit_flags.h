#pragma once
// The flags that choose the explained units (docs/cli.md; docs/method.md,
// "Groups"): --delimiter, --target-units, --groups, --token-overlap,
// --image-granularity, --image-search, --refine-fraction. `atman explain`
// takes them all, `atman eval` and `atman bench` the image ones.

#include <cstdint>
#include <string>

#include "atman/core/options.h"

namespace CLI {
class App;
}

namespace atman::runner {

struct UnitFlags {
  std::string delimiter;
  int64_t target_units = ExplainOptions{}.target_units;
  std::string groups_file;
  std::string token_overlap = "partial";
  std::string image_granularity = "patch";
  std::string image_search = "full";
  double refine_fraction = ExplainOptions{}.refine_fraction;
  bool has_delimiter = false;     // given on the command line
  bool has_target_units = false;
};

/// --image-granularity's value: 0 for patch, else the tiles per side (>= 1).
/// UsageError naming the flag for anything else.
int64_t parse_image_granularity(const std::string& text);

/// Adds the text flags (--delimiter, --target-units, --groups, --token-overlap) to `sub`.
void add_text_unit_flags(CLI::App* sub, UnitFlags& flags);
/// Adds the image flags (--image-granularity, --image-search, --refine-fraction) to `sub`.
void add_image_unit_flags(CLI::App* sub, UnitFlags& flags);
/// Marks which flags were given (call from the subcommand's callback).
void note_given_unit_flags(CLI::App* sub, UnitFlags& flags);

/// Fills options' unit fields from the flags (the groups file read and
/// parsed; its errors are the library's). UsageError, one line naming the
/// flag: --image-granularity neither patch nor an integer >= 1, a refine
/// fraction outside [0, 1], --target-units < 1, --granularity delimiter
/// without a non-empty --delimiter, --delimiter or --target-units without
/// their granularity, --groups with --granularity or image units, or
/// coarse-to-fine for a method other than atman.
void apply_unit_flags(const UnitFlags& flags, const std::string& method, ExplainOptions& options);

}  // namespace atman::runner
