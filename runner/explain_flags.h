#pragma once
// The flags of `atman explain` (docs/cli.md), registered once and read by
// both the command line and the service (`atman serve`, whose JSON fields
// are these flags' long names with underscores).

#include <cstdint>
#include <string>

#include "atman/core/names.h"
#include "atman/core/options.h"
#include "atman/methods/baselines.h"
#include "atman/methods/registry.h"
#include "distributed_flags.h"
#include "overlay_flags.h"
#include "unit_flags.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace atman::runner {

struct ExplainArgs {
  std::string model;
  std::string image;
  std::string question;
  std::string prompt;
  std::string target;
  std::string json;
  std::string overlay;
  std::string html;
  OverlayFlags overlay_flags;  // --colormap, --overlay-alpha, --clip-percentile, --patch-borders
  UnitFlags unit_flags;        // --delimiter, --groups, --image-granularity, ... (unit_flags.h)
  double suppression_factor = ExplainOptions{}.suppression_factor;
  std::string conceptual_threshold = default_conceptual_threshold_text();
  std::string granularity = "token";
  std::string strategy = "auto";
  std::string precision = "fp32";
  int64_t recompute_top = ExplainOptions{}.recompute_top;
  double recompute_margin = ExplainOptions{}.recompute_margin;
  std::string control = "multiplicative";
  std::string method = "atman";
  int64_t ig_steps = BaselineOptions{}.ig_steps;
  std::string ig_method = ig_rule_name(BaselineOptions{}.ig_rule);
  int64_t batch_size = 0;
  int64_t threads = 0;
  int64_t max_memory_mb = 0;
  int top_k = 10;
  bool quiet = false;
  bool verbose = false;
  bool has_question = false;  // given on the command line (possibly empty)
  bool has_prompt = false;
  std::string contrast;  // --contrast: the answer to explain the target against
  bool has_contrast = false;
  std::string target_granularity = "complete";
  std::string postprocess = "none";
  bool normalize = false;
  DistributedArgs dist;
};

/// The options whose presence is read after parsing.
struct ExplainFlagHandles {
  CLI::Option* question = nullptr;
  CLI::Option* prompt = nullptr;
  CLI::Option* contrast = nullptr;
};

/// Registers every flag of `atman explain` on `sub`, bound to `args`.
ExplainFlagHandles add_explain_flags(CLI::App* sub, ExplainArgs& args);

/// After parsing: records which of the flags read by presence were given.
void note_given_explain_flags(CLI::App* sub, const ExplainFlagHandles& handles, ExplainArgs& args);

/// The checks of flag combinations that need no model (UsageError, one line):
/// exactly one of --question and --prompt, --contrast's and --control's
/// combinations with the method, the overlay flags' values.
void check_explain_flags(const ExplainArgs& args);

/// The library's options from the flags (UsageError naming a flag out of range).
ExplainOptions explain_options_from(const ExplainArgs& args);

/// The baselines' options (--ig-steps, --ig-method), checked.
BaselineOptions baseline_options_from(const ExplainArgs& args);

}  // namespace atman::runner
