#pragma once
// Option structs of the explainer, with their documented defaults.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace atman {

/// How explained text positions are grouped (docs/method.md, "Groups"): each
/// token alone, the tokens of a word, a sentence or a paragraph together, up
/// to and including each occurrence of ExplainOptions::delimiter, or kAuto:
/// the coarsest of sentence, word, token giving at least target_units units.
enum class Granularity { kToken, kWord, kSentence, kParagraph, kDelimiter, kAuto };

/// A custom group only partly covering a token's characters (or a patch's
/// area): kPartial scales the suppression by the covered fraction c (factor
/// 1 - c (1 - f)), kComplete applies f (docs/method.md, "Custom groups").
enum class TokenOverlap { kPartial, kComplete };

/// How image units are searched: every unit of image_granularity in one
/// sweep (kFull), or tiles first, then only the relevant ones refined level
/// by level down to patches (kCoarseToFine, docs/method.md, "Coarse to fine").
enum class ImageSearch { kFull, kCoarseToFine };

/// A custom explained unit (`--groups`, docs/method.md, "Custom groups"):
/// spans [begin, end) in Unicode characters of the prompt and/or a
/// rectangle [x0, y0, x1, y1] in 0-1 coordinates of the original image.
struct CustomGroup {
  std::string name;
  std::vector<std::pair<int64_t, int64_t>> spans;
  std::optional<std::array<double, 4>> rect;
};

/// How each perturbed pass is computed; every strategy gives the same numbers.
/// kAuto picks the fastest the model supports (docs/optional_methods.md).
enum class PassStrategy {
  kAuto,
  kFullLogits,  // forward -> [B, S, V] logits (the published algorithm)
  kTargetOnly,  // hidden_states -> lm_head on the rows before target tokens only
  kPrefixReuse,  // prefix_cache once, then only the positions from the first suppressed one (docs/optional_methods.md)
};

/// Number format of the perturbed passes. kFloat32 is exact (the default);
/// kBFloat16 casts the model and the embeddings to bfloat16 for speed, with
/// small deviations (`atman bench` reports them).
/// kAuto: chosen per model and CPU (core/precision_choice.h) before the sweep.
enum class Precision { kFloat32, kBFloat16, kAuto };

/// How a modifier factor f acts on its key's attention score (docs/method.md,
/// "Controls"): kMultiplicative (H - min H) * f, the reference code's and the
/// default; kLogAdditive H + log f (f = 0 removes the key), the hosted API's.
/// kLogAdditive needs the model's *_additive methods (docs/optional_methods.md).
enum class Control { kMultiplicative, kLogAdditive };

/// Which maps the outputs present (docs/json.md, "explanations"): one for the
/// whole target (R[i]) or one per target token (R[i, t]).
enum class TargetGranularity { kComplete, kToken };

/// Applied to every relevance value before any normalisation (core/shaping.h):
/// none, |R| or R^2.
enum class Postprocess { kNone, kAbsolute, kSquare };

/// The method's default parameters (docs/method.md): the command line, the
/// ops' schemas, `atman eval`'s base setting and ExplainOptions all take them.
constexpr double kDefaultSuppressionFactor = 0.1;
constexpr double kDefaultConceptualThreshold = 0.6;

/// Parameters of the AtMan sweep (docs/method.md).
///
///   ExplainOptions options;
///   options.conceptual_threshold = std::nullopt;  // single-token suppression
struct ExplainOptions {
  /// Factor f applied to the suppressed key's (shifted) attention score.
  double suppression_factor = kDefaultSuppressionFactor;
  /// kappa of conceptual suppression; nullopt means single-token suppression.
  std::optional<double> conceptual_threshold = kDefaultConceptualThreshold;
  /// Grouping of text positions (image patches are always single).
  Granularity granularity = Granularity::kToken;
  /// Granularity::kDelimiter: a unit ends with each occurrence of this text (non-empty).
  std::string delimiter;
  /// Granularity::kAuto: the least number of text units wanted.
  int64_t target_units = 30;
  /// Custom units instead of the granularities (empty: none).
  std::vector<CustomGroup> groups;
  /// How a custom group partly covering a token or patch suppresses it.
  TokenOverlap token_overlap = TokenOverlap::kPartial;
  /// Image units: 0 every patch alone; N: N x N tiles (at most the grid's side).
  int64_t image_granularity = 0;
  /// kCoarseToFine: image_granularity tiles (0 means 3) refined where the
  /// relevance is at least refine_fraction x the level's top tile's.
  ImageSearch image_search = ImageSearch::kFull;
  double refine_fraction = 0.5;
  /// Modifier rows per forward pass (of the full sequence length; the
  /// prefix-reuse strategy packs more rows into a pass when their suffixes are
  /// shorter, never more positions); 0 picks the largest that fits max_memory_mb.
  int64_t batch_size = 0;
  /// Peak resident memory of the whole process in MB (resource_limits.h);
  /// 0 means what the process holds plus the machine's available memory.
  int64_t max_memory_mb = 0;
  /// LibTorch intra-op threads; 0 means the CPUs the process may use
  /// (runtime/cpu_budget.h: affinity mask, cgroup quota, divided among a
  /// sharded run's ranks on the host, at most what other running tasks leave free).
  int64_t threads = 0;
  /// How passes are computed (kAuto: the fastest the model supports).
  PassStrategy strategy = PassStrategy::kAuto;
  /// Number format of the passes (kFloat32: exact).
  Precision precision = Precision::kFloat32;
  /// With a reduced precision: the units recomputed in float32 after the
  /// sweep (core/float32_recompute.h), the `recompute_top` most relevant and
  /// every unit within `recompute_margin` x the largest |R| of the
  /// recompute_top-th; 0: none.
  int64_t recompute_top = 10;
  double recompute_margin = 0.15;
  /// How the factors act on the attention scores (kMultiplicative: the published method).
  Control control = Control::kMultiplicative;
  /// Score shaping after R is computed (core/shaping.h, docs/json.md): the
  /// maps presented, the postprocessing of every value, and whether each map
  /// is rescaled so that its minimum becomes 0 and its maximum 1.
  TargetGranularity target_granularity = TargetGranularity::kComplete;
  Postprocess postprocess = Postprocess::kNone;
  bool normalize = false;
};

}  // namespace atman
