#pragma once
// The result of an explanation: what every output (JSON, overlay, HTML,
// terminal) is rendered from. Field meanings follow docs/json.md.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/options.h"
#include "atman/model/sequence.h"

namespace atman {

/// One target token: its id, its sentencepiece piece and its clean
/// cross-entropy CE_t(1).
struct TargetToken {
  int64_t id = 0;
  std::string piece;
  double ce = 0.0;
};

/// One explained unit: a single position (image patch, prompt token, target
/// token) or, with word/sentence granularity, a group of text positions
/// suppressed together. `index` is the first member's sequence index.
struct ExplainedUnit {
  int64_t index = 0;
  PositionKind kind = PositionKind::kText;
  std::vector<int64_t> members;  // sequence indices suppressed together (size 1 for tokens/patches)
  int64_t token_id = -1;         // text/target: the token id of `index`; image: -1
  std::string piece;             // text/target: the pieces of all members joined; image: empty
  int64_t patch_row = -1;        // image only
  int64_t patch_col = -1;        // image only
  /// How the unit was formed (docs/method.md, "Groups"; core/units.h's UnitLabel):
  /// a custom group's name (--groups; empty otherwise) and, per member, the
  /// fraction of its characters or area the group covers (custom groups only;
  /// < 1: partly covered, see --token-overlap).
  std::string name;
  std::vector<double> coverage;
  /// An image tile (--image-granularity N, or the tile an unrefined patch
  /// takes its relevance from): its patch rows and columns, both ends
  /// inclusive; -1 when the unit is no tile.
  int64_t tile_row0 = -1, tile_row1 = -1, tile_col0 = -1, tile_col1 = -1;
  /// Coarse-to-fine (--image-search): false for a patch that was not refined
  /// and carries the relevance of its tile (tile_*); true for every computed unit.
  bool refined = true;
  /// A reduced-precision sweep (params.precision not float32): true for a
  /// unit whose values were computed again in float32 (core/float32_recompute.h).
  bool recomputed = false;
  double relevance = 0.0;        // R[i] = sum_t R[i, t] (with a contrast: minus sum_c R_c[i, c])
  std::vector<double> per_target;  // R[i, t] in target order
  /// With a contrast (Explanation::contrast): R_c[i, c] = CE_c(m_i) - CE_c(1)
  /// of each contrast token c, in order (core/contrast.h); empty otherwise.
  std::vector<double> per_contrast;
  /// The three above before score shaping (core/shaping.h); filled only when
  /// Explanation::shaped, when relevance and per_* hold the shaped maps.
  double raw_relevance = 0.0;
  std::vector<double> raw_per_target;
  std::vector<double> raw_per_contrast;
};

/// The answer a contrastive explanation weighs the target against
/// (`--contrast`, core/contrast.h): its text and its tokens with their clean
/// cross-entropies. Renderers show a contrast's signed map on a diverging
/// colour map (positive: the unit favours the target over the contrast).
struct ContrastAnswer {
  std::string text;
  std::vector<TargetToken> tokens;
};

/// Cost figures of the sweep (the JSON's "stats").
struct SweepStats {
  int64_t forward_passes = 0;       // modifier rows evaluated
  int64_t positions_computed = 0;   // query positions pushed through the model, summed over passes
  /// Seconds of the one-time work and of the passes (docs/speed.md#fixed-costs):
  /// loading the model file (set by whoever loaded it: `atman explain`; 0 when
  /// one model serves many explanations), preparing it for the passes (0 in
  /// float32: the module as loaded; the bfloat16 cast copy; 0 when this
  /// Explainer had it already), and the sweep (planning and every pass, the
  /// clean one included).
  double load_seconds = 0.0;
  double compile_seconds = 0.0;
  double sweep_seconds = 0.0;
  double peak_memory_mb = 0.0;
  int64_t threads = 0;
  int64_t batch_size = 0;
  /// A sharded sweep (docs/distributed.md): the group's size, each rank's
  /// seconds up to its last pass (1 and empty for one process), the gather.
  int64_t world_size = 1;
  std::vector<double> rank_seconds;
  double gather_seconds = 0.0;  // the Gloo gather of the cross-entropies on this rank
};

/// Everything `explain` computed for one (model, prompt, target, image).
struct Explanation {
  std::string model;      // config "name"
  std::string method = "atman";
  /// Parameters of a non-AtMan method (e.g. {"ig_steps", 32}), written into
  /// the JSON's "params" beside the sweep's.
  std::vector<std::pair<std::string, double>> method_params;
  /// Text parameters of a non-AtMan method (e.g. {"ig_method", "gauss-legendre"}), beside them.
  std::vector<std::pair<std::string, std::string>> method_text_params;
  std::string prompt;
  std::string target;
  ExplainOptions params;
  /// --granularity auto: the granularity it chose (core/units.h, choose_granularity).
  std::optional<Granularity> chosen_granularity;
  std::optional<std::pair<int64_t, int64_t>> image_grid;  // (rows, cols) when an image was given
  /// The model's image config when an image was given: how patches map back
  /// onto the original image through image.resize (io/image.h, model_view).
  std::optional<ImageConfig> image_config;
  /// The original image's (width, height) when an image was given (for the
  /// JSON's image rectangles in 0-1 image coordinates, render/image_scores.h).
  std::optional<std::pair<int64_t, int64_t>> image_size;
  std::vector<TargetToken> targets;
  /// Set for a contrastive explanation (core/contrast.h): units are then the
  /// prompt's only (image and text; target positions are not explained) and
  /// relevance is R[i] = sum_t R[i, t] - sum_c R_c[i, c], signed: positive
  /// where the unit makes the model say the target rather than the contrast.
  std::optional<ContrastAnswer> contrast;
  std::vector<ExplainedUnit> units;  // sequence order
  /// True when params.postprocess or params.normalize changed the values
  /// (core/shaping.h): units hold the shaped maps and their raw_* the raw ones.
  bool shaped = false;
  SweepStats stats;
};

/// The one assembly of an Explanation, for AtMan and every baseline: the
/// targets with their clean cross-entropies `clean_ce` [T], and one unit per
/// explained group (sequence order) with per-target values from
/// `group_values` (float64 [N, T], row g for groups[g]) and R = their sum;
/// image units get their patch cell, text units their members' pieces joined;
/// the model's name and, with an image, its image config.
/// `method` is method_name's ("atman", "ixg", ...). Stats are left to the caller.
Explanation assemble_explanation(const ModelConfig& config, const std::string& method, const Sequence& sequence,
                                 const std::vector<std::vector<int64_t>>& groups, const at::Tensor& group_values,
                                 const std::vector<double>& clean_ce, const ExplainOptions& options);

/// Indices into `explanation.units`, most relevant first (ties in sequence
/// order, non-finite relevance last), cut to `top_k` when top_k > 0: the
/// order of every "top units" table (terminal, HTML).
std::vector<size_t> units_by_relevance(const Explanation& explanation, int top_k);

}  // namespace atman
