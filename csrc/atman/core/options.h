#pragma once
// Option structs of the explainer, with their documented defaults.

#include <cstdint>
#include <optional>
#include <string>

namespace atman {

/// How explained text positions are grouped: each token alone, the tokens of
/// a word together, or the tokens of a sentence together.
enum class Granularity { kToken, kWord, kSentence };

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
enum class Precision { kFloat32, kBFloat16 };

/// How a modifier factor f acts on its key's attention score (docs/method.md,
/// "Controls"): kMultiplicative (H - min H) * f, the reference code's and the
/// default; kLogAdditive H + log f (f = 0 removes the key), the hosted API's.
/// kLogAdditive needs the model's *_additive methods (docs/optional_methods.md).
enum class Control { kMultiplicative, kLogAdditive };

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
  /// Modifier rows per forward pass (of the full sequence length; the
  /// prefix-reuse strategy packs more rows into a pass when their suffixes are
  /// shorter, never more positions); 0 picks the largest that fits max_memory_mb.
  int64_t batch_size = 0;
  /// Peak resident memory of the whole process in MB (resource_limits.h);
  /// 0 means what the process holds plus the machine's available memory.
  int64_t max_memory_mb = 0;
  /// LibTorch intra-op threads; 0 means the CPUs the process may use
  /// (runtime/cpu_budget.h: affinity mask, cgroup quota).
  int64_t threads = 0;
  /// How passes are computed (kAuto: the fastest the model supports).
  PassStrategy strategy = PassStrategy::kAuto;
  /// Number format of the passes (kFloat32: exact).
  Precision precision = Precision::kFloat32;
  /// How the factors act on the attention scores (kMultiplicative: the published method).
  Control control = Control::kMultiplicative;
};

}  // namespace atman
