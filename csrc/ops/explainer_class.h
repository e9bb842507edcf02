#pragma once
// torch.classes.atman.Explainer: a contract model loaded once (the same
// checks and messages as `atman explain --model`), explained many times by
// the core's atman::Explainer.

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/core/Dict.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/util/Optional.h>

namespace atman {
class Model;
class Explainer;
struct Explanation;
struct ExplainInput;
}  // namespace atman

namespace atman::ops {

/// The tensors of one explanation, one row per explained position (every
/// position of the sequence, docs/method.md order):
///   relevance  float64 [S]     R[i] = sum_t R[i, t] (positive: position i mattered)
///   per_target float64 [S, T]  R[i, t]
///   kind       int64 [S]       0 image patch, 1 prompt token, 2 target token
///   token_ids  int64 [S]       the token id; -1 for image patches
///   target_ids int64 [T]       the target's token ids
///   target_ce  float64 [T]     CE_t(1), the clean cross-entropy of each target token
/// With a contrast answer (docs/method.md, "Contrast"; rows are then the
/// prompt's positions only, relevance R[i] = sum_t R[i, t] - sum_c R_c[i, c]):
///   per_contrast float64 [S, C]  R_c[i, c] of each contrast token
///   contrast_ids int64 [C]       the contrast's token ids
///   contrast_ce  float64 [C]     CE_c(1) of each contrast token
/// With postprocess or normalize (docs/json.md, "Score shaping"), relevance,
/// per_target and per_contrast hold the shaped maps and these the raw ones:
///   raw_relevance float64 [S], raw_per_target [S, T], raw_per_contrast [S, C]
c10::Dict<std::string, at::Tensor> explanation_tensors(const Explanation& explanation);

/// The scoring arguments of explain and explain_pixels: a contrast answer
/// (nullopt: none), --target-granularity, --postprocess and --normalize.
struct ScoreArgs {
  c10::optional<std::string> contrast;
  std::string target_granularity = "complete";
  std::string postprocess = "none";
  bool normalize = false;
  std::string units;  // the explained units as JSON (unit_options.h); "": tokens and patches
};

/// The parsed atman/config.json of a model as one line of JSON.
std::string config_json(const Model& model);

/// Usage (C++; from Python: torch.classes.atman.Explainer(path)):
///   auto e = c10::make_intrusive<atman::ops::ExplainerClass>("tiny_magma.pt");  // throws c10::Error
///   auto r = e->explain("Question: What color is the circle? Answer:", " red", "shapes.png", 0.1, 0.6);
///   at::Tensor relevance = r.at("relevance");
/// Every method throws c10::Error with the command line's one-line message.
class ExplainerClass : public torch::CustomClassHolder {
 public:
  explicit ExplainerClass(const std::string& model_path);
  ~ExplainerClass() override;

  /// Explains `target` after `prompt` (used verbatim) with the image file
  /// `image_path` (any format OpenCV reads; nullopt: no image).
  /// conceptual_threshold nullopt: single-token suppression. `control`:
  /// "multiplicative" or "log-additive" (docs/method.md, "Controls");
  /// `method`: "atman" or a baseline of `atman explain --method` (the
  /// baselines take no control but the default).
  c10::Dict<std::string, at::Tensor> explain(const std::string& prompt, const std::string& target,
                                             const c10::optional<std::string>& image_path,
                                             double suppression_factor, c10::optional<double> conceptual_threshold,
                                             const std::string& control, const std::string& method,
                                             const ScoreArgs& score = {}) const;
  /// Same with an image already in memory: uint8 [3, H, W], RGB, on the CPU.
  c10::Dict<std::string, at::Tensor> explain_pixels(const std::string& prompt, const std::string& target,
                                                    const at::Tensor& pixels, double suppression_factor,
                                                    c10::optional<double> conceptual_threshold,
                                                    const std::string& control, const std::string& method,
                                                    const ScoreArgs& score = {}) const;
  /// Steered generation (docs/steering.md): the continuation of `prompt`
  /// (verbatim) with the spans in `suppress` / `amplify` controlled in every
  /// layer, and the unsteered one. Returns (steered text, steered ids int64
  /// [n], unsteered text, unsteered ids). recompute: no KV cache.
  ///   auto [text, ids, plain, plain_ids] = e->generate("Once upon a time, Tom", c10::nullopt, {"Tom"}, {}, ...);
  std::tuple<std::string, at::Tensor, std::string, at::Tensor> generate(
      const std::string& prompt, const c10::optional<std::string>& image_path, const std::vector<std::string>& suppress,
      const std::vector<std::string>& amplify, double factor_suppress, double factor_amplify,
      c10::optional<double> conceptual_threshold, int64_t max_tokens, bool sample, double temperature, int64_t seed,
      bool recompute) const;
  /// config_json(model).
  std::string config() const;
  const std::string& model_path() const { return model_path_; }

 private:
  c10::Dict<std::string, at::Tensor> run(const ExplainInput& input, double suppression_factor,
                                         c10::optional<double> conceptual_threshold, const std::string& control,
                                         const std::string& method, const ScoreArgs& score) const;
  std::string model_path_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Explainer> explainer_;
};

}  // namespace atman::ops
