#pragma once
// Steered generation (docs/steering.md): AtMan's attention modifier
// (docs/method.md) on chosen prompt positions while the model generates, with
// the model's KV cache (step_from_cache, docs/contract.md) when it has one.
//
// Usage:
//   auto model = atman::Model::load("tiny_magma.pt");
//   atman::SteeringOptions options;
//   options.controls = {{atman::ControlKind::kSuppress, "image:2,3,5,6"}};
//   atman::SteeredGeneration g = atman::steer(*model, atman::prompt_from_question(model->config(), q),
//                                             atman::read_image_rgb("shapes.png"), options);
//   g.steered.text;    // with the modifier
//   g.unsteered.text;  // the same decoding with every factor 1

#include <cstdint>
#include <optional>
#include <string>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "atman/generate/steering_spans.h"
#include "atman/model/model.h"

namespace atman {

/// How the next token's logits are computed.
enum class DecodePath {
  kAuto,       // the KV cache when the model has step_from_cache and lm_head, else kRecompute
  kCache,      // the KV cache; throws when the model lacks it
  kRecompute,  // forward on the whole sequence for every token (the reference code's way)
};

/// Options of steer(); defaults as `atman generate` prints them.
struct SteeringOptions {
  std::vector<SteeringControl> controls;
  double suppress_factor = 0.1;  // in [0, 1)
  double amplify_factor = 2.0;   // > 1, finite
  /// kappa: conceptual neighbours (docs/method.md) of controlled positions are
  /// controlled too; nullopt: only the spans themselves.
  std::optional<double> conceptual_threshold;
  int64_t max_tokens = 32;  // in [1, 4096]; also ends at eos_id and at max_positions
  bool stop_at_eos = true;  // false: always max_tokens (benchmarks)
  bool sample = false;      // false: greedy
  double temperature = 1.0; // > 0, with sample
  uint64_t seed = 0;        // with sample: the same seed gives the same tokens
  DecodePath path = DecodePath::kAuto;
  bool keep_logits = false;  // GeneratedText::logits
  bool unsteered = true;     // also generate with every factor 1
  /// Called after each generated token (`steered`: the run with the
  /// modifier); the service streams tokens from here. May throw to stop.
  std::function<void(bool steered, int64_t id)> on_token;
};

/// Throws std::invalid_argument with one line for a factor, threshold,
/// temperature or max_tokens out of range ("suppress factor must be a finite
/// number in [0, 1), got 1.5").
void check_steering_options(const SteeringOptions& options);

/// A control with its positions.
struct ResolvedControl {
  ControlKind kind = ControlKind::kSuppress;
  std::string span;
  std::vector<int64_t> positions;
};

/// The attention modifier of the prompt, float32 [S]: suppressed positions get
/// suppress_factor, amplified ones amplify_factor, everything else 1; with a
/// conceptual threshold each kind's neighbours get their conceptual factor
/// (modifier_rows, docs/method.md), and a position proposed by both kinds
/// keeps the factor furthest from 1 in ratio (|log m|). A position both
/// suppressed and amplified by the spans themselves is refused.
/// `embeddings` [S, D] (layer 0) are needed only with a threshold.
at::Tensor steering_modifier(const at::Tensor& embeddings, int64_t sequence_length,
                             const std::vector<ResolvedControl>& controls, const SteeringOptions& options);

/// One generated continuation.
struct GeneratedText {
  std::vector<int64_t> ids;           // without the end token
  std::string text;                   // decoded, outer spaces removed
  std::vector<double> logprobs;       // log p of each chosen token (temperature 1)
  std::vector<double> step_seconds;   // wall time of each token
  double seconds = 0.0;               // all of it (the prompt's pass included)
  std::string stop;                   // "eos", "max_tokens" or "max_positions"
  at::Tensor logits;                  // float32 [n, V] when keep_logits
};

/// Generates after the prompt embeddings [1, S, D] with modifier [S] on the
/// prompt's keys (generated keys get 1) by `path` (never kAuto here).
/// `steered` is passed on to options.on_token.
GeneratedText generate_with_modifier(const Model& model, const at::Tensor& embeddings, const at::Tensor& modifier,
                                     const SteeringOptions& options, DecodePath path, bool steered = true);

/// The decode path kAuto resolves to for `model`.
DecodePath resolve_decode_path(const Model& model, DecodePath requested);

struct SteeredGeneration {
  SteeringPrompt prompt;
  std::vector<ResolvedControl> controls;
  at::Tensor embeddings;     // float32 [1, S, D], layer 0, in sequence order
  at::Tensor modifier;       // float32 [S]
  DecodePath path = DecodePath::kCache;
  GeneratedText steered;
  GeneratedText unsteered;   // every factor 1 (empty when options.unsteered is false)
};

/// Checks options, lays out the prompt (and image, 8-bit RGB; empty: none),
/// resolves the controls and generates twice: with the modifier and without.
/// Runs under InferenceMode; throws std::invalid_argument / runtime_error with one line.
SteeredGeneration steer(const Model& model, const std::string& prompt, const cv::Mat& image_rgb,
                        const SteeringOptions& options);

const char* decode_path_name(DecodePath path);  // "kv-cache", "recompute", "auto"

}  // namespace atman
