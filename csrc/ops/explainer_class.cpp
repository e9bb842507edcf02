#include "explainer_class.h"

#include <optional>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "atman/core/explainer.h"
#include "atman/core/explanation.h"
#include "atman/core/names.h"
#include "atman/generate/steering.h"
#include "atman/io/image.h"
#include "atman/methods/registry.h"
#include "atman/model/model.h"
#include "atman/runtime/cpu_budget.h"
#include "errors.h"
#include "unit_options.h"

namespace atman::ops {
namespace {

ExplainOptions options_from(double suppression_factor, c10::optional<double> conceptual_threshold) {
  // Token granularity, automatic strategy and batch size, and threads = the
  // CPUs the process may use (runtime/cpu_budget.h: affinity, cgroup quota, load),
  // the caller's thread count restored afterwards (ThreadCountRestorer).
  ExplainOptions options;
  options.suppression_factor = suppression_factor;
  options.conceptual_threshold =
      conceptual_threshold ? std::optional<double>(*conceptual_threshold) : std::nullopt;
  return options;
}

cv::Mat rgb_from_pixels(const at::Tensor& pixels) {
  if (!pixels.defined() || pixels.dim() != 3 || pixels.size(0) != 3 || pixels.scalar_type() != at::kByte ||
      !pixels.device().is_cpu()) {
    throw_one_line(fmt::format("explain_pixels: expected pixels uint8 [3, H, W] (RGB) on the CPU, got {}",
                               describe(pixels)));
  }
  if (pixels.size(1) == 0 || pixels.size(2) == 0) {
    throw_one_line(fmt::format("explain_pixels: pixels must have H, W >= 1, got {}", describe(pixels)));
  }
  if (pixels.size(1) * pixels.size(2) > kMaxImagePixels) {
    throw_one_line(fmt::format("explain_pixels: image is {}x{} pixels, more than the limit of {}", pixels.size(2),
                               pixels.size(1), kMaxImagePixels));
  }
  const at::Tensor hwc = pixels.detach().permute({1, 2, 0}).contiguous();
  const cv::Mat view(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)), CV_8UC3, hwc.data_ptr<uint8_t>());
  return view.clone();
}

// The image of an `image_path` argument, for a model that takes images.
cv::Mat read_image_path(const Model& model, const std::string& model_path, const std::string& image_path) {
  if (image_path.empty()) throw std::invalid_argument("image_path is empty (pass None for no image)");
  if (!model.has_image()) {
    // As `atman explain --image` says it, with the Python argument's name.
    throw std::invalid_argument(fmt::format("{}: model {} is text-only (config image is null): it takes no "
                                            "image_path {}",
                                            model_path, model.config().name, image_path));
  }
  return read_image_rgb(image_path);
}

// Rows of a per-unit field as float64 [S, width].
at::Tensor unit_rows(const Explanation& e, std::vector<double> ExplainedUnit::*field, int64_t width) {
  at::Tensor out = at::empty({static_cast<int64_t>(e.units.size()), width}, at::kDouble);
  auto a = out.accessor<double, 2>();
  for (size_t i = 0; i < e.units.size(); ++i) {
    for (int64_t j = 0; j < width; ++j) a[static_cast<int64_t>(i)][j] = (e.units[i].*field).at(j);
  }
  return out;
}

// explanation_tensors' contrast and raw (unshaped) entries.
void insert_contrast_and_raw(const Explanation& e, c10::Dict<std::string, at::Tensor>& out) {
  const int64_t t = static_cast<int64_t>(e.targets.size());
  const int64_t c = e.contrast ? static_cast<int64_t>(e.contrast->tokens.size()) : 0;
  if (e.contrast) {
    std::vector<int64_t> ids;
    std::vector<double> ce;
    for (const TargetToken& token : e.contrast->tokens) {
      ids.push_back(token.id);
      ce.push_back(token.ce);
    }
    out.insert("per_contrast", unit_rows(e, &ExplainedUnit::per_contrast, c));
    out.insert("contrast_ids", at::tensor(ids, at::kLong));
    out.insert("contrast_ce", at::tensor(ce, at::kDouble));
  }
  if (!e.shaped) return;
  std::vector<double> raw;
  for (const ExplainedUnit& u : e.units) raw.push_back(u.raw_relevance);
  out.insert("raw_relevance", at::tensor(raw, at::kDouble));
  out.insert("raw_per_target", unit_rows(e, &ExplainedUnit::raw_per_target, t));
  if (e.contrast) out.insert("raw_per_contrast", unit_rows(e, &ExplainedUnit::raw_per_contrast, c));
}

}  // namespace

c10::Dict<std::string, at::Tensor> explanation_tensors(const Explanation& e) {
  const int64_t s = static_cast<int64_t>(e.units.size());
  const int64_t t = static_cast<int64_t>(e.targets.size());
  at::Tensor relevance = at::empty({s}, at::kDouble);
  at::Tensor per_target = at::empty({s, t}, at::kDouble);
  at::Tensor kind = at::empty({s}, at::kLong);
  at::Tensor token_ids = at::empty({s}, at::kLong);
  at::Tensor target_ids = at::empty({t}, at::kLong);
  at::Tensor target_ce = at::empty({t}, at::kDouble);
  auto r = relevance.accessor<double, 1>();
  auto rt = per_target.accessor<double, 2>();
  auto k = kind.accessor<int64_t, 1>();
  auto ids = token_ids.accessor<int64_t, 1>();
  for (int64_t i = 0; i < s; ++i) {
    const ExplainedUnit& u = e.units[i];
    r[i] = u.relevance;
    for (int64_t j = 0; j < t; ++j) rt[i][j] = u.per_target.at(j);
    k[i] = u.kind == PositionKind::kImage ? 0 : (u.kind == PositionKind::kText ? 1 : 2);
    ids[i] = u.kind == PositionKind::kImage ? -1 : u.token_id;
  }
  for (int64_t j = 0; j < t; ++j) {
    target_ids[j] = e.targets[j].id;
    target_ce[j] = e.targets[j].ce;
  }
  c10::Dict<std::string, at::Tensor> out;
  out.insert("relevance", relevance);
  out.insert("per_target", per_target);
  out.insert("kind", kind);
  out.insert("token_ids", token_ids);
  out.insert("target_ids", target_ids);
  out.insert("target_ce", target_ce);
  insert_contrast_and_raw(e, out);
  return out;
}

std::string config_json(const Model& model) {
  const ModelConfig& c = model.config();
  nlohmann::ordered_json j;
  j["contract"] = c.contract;
  j["name"] = c.name;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["num_layers"] = c.num_layers;
  j["num_heads"] = c.num_heads;
  j["num_kv_heads"] = c.kv_heads();
  j["max_positions"] = c.max_positions;
  j["add_bos"] = c.add_bos;
  j["bos_id"] = c.bos_id;
  if (c.eos_id) j["eos_id"] = *c.eos_id;
  if (c.image) {
    const ImageConfig& i = *c.image;
    j["image"] = {{"size", {i.height, i.width}},
                  {"grid", {i.grid_rows, i.grid_cols}},
                  {"mean", i.mean},
                  {"std", i.std},
                  {"resize", i.resize == ImageResize::kStretch      ? "stretch"
                             : i.resize == ImageResize::kCenterCrop ? "center_crop"
                                                                    : "pad"},
                  {"resample", image_resample_name(i.resample)}};
  } else {
    j["image"] = nullptr;
  }
  j["prompt_template"] = c.prompt_template;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ExplainerClass::ExplainerClass(const std::string& model_path) : model_path_(model_path) {
  with_one_line_errors([&] {
    model_ = Model::load(model_path);
    explainer_ = std::make_unique<Explainer>(model_);
  });
}

ExplainerClass::~ExplainerClass() = default;

c10::Dict<std::string, at::Tensor> ExplainerClass::explain(const std::string& prompt, const std::string& target,
                                                           const c10::optional<std::string>& image_path,
                                                           double suppression_factor,
                                                           c10::optional<double> conceptual_threshold,
                                                           const std::string& control,
                                                           const std::string& method, const ScoreArgs& score) const {
  return with_one_line_errors([&] {
    ExplainInput input;
    input.prompt = prompt;
    input.target = target;
    if (image_path) input.image_rgb = read_image_path(*model_, model_path_, *image_path);
    return run(input, suppression_factor, conceptual_threshold, control, method, score);
  });
}

c10::Dict<std::string, at::Tensor> ExplainerClass::explain_pixels(const std::string& prompt,
                                                                  const std::string& target,
                                                                  const at::Tensor& pixels,
                                                                  double suppression_factor,
                                                                  c10::optional<double> conceptual_threshold,
                                                                  const std::string& control,
                                                                  const std::string& method,
                                                                  const ScoreArgs& score) const {
  return with_one_line_errors([&] {
    ExplainInput input;
    input.prompt = prompt;
    input.target = target;
    input.image_rgb = rgb_from_pixels(pixels);
    if (!model_->has_image()) {
      throw std::invalid_argument(fmt::format("{}: model {} is text-only (config image is null): it takes no pixels",
                                              model_path_, model_->config().name));
    }
    return run(input, suppression_factor, conceptual_threshold, control, method, score);
  });
}

// One explanation with AtMan (under `control`) or a baseline (explain_with_method).
c10::Dict<std::string, at::Tensor> ExplainerClass::run(const ExplainInput& input, double suppression_factor,
                                                       c10::optional<double> conceptual_threshold,
                                                       const std::string& control, const std::string& method,
                                                       const ScoreArgs& score) const {
  ExplainOptions options = options_from(suppression_factor, conceptual_threshold);
  options.target_granularity = parse_target_granularity(score.target_granularity);
  options.postprocess = parse_postprocess(score.postprocess);
  options.normalize = score.normalize;
  apply_unit_options(score.units, options);  // unit_options.h
  ExplainInput scored = input;
  if (score.contrast) scored.contrast = *score.contrast;
  options.control = parse_control(control);
  const Method chosen = parse_method(method);
  if (chosen != Method::kAtman && options.control != Control::kMultiplicative) {
    throw std::invalid_argument("control " + control + " is how AtMan suppresses: method " + method + " takes none");
  }
  ThreadCountRestorer restore_threads;
  return explanation_tensors(explain_with_method(*explainer_, chosen, scored, options));
}

std::tuple<std::string, at::Tensor, std::string, at::Tensor> ExplainerClass::generate(
    const std::string& prompt, const c10::optional<std::string>& image_path, const std::vector<std::string>& suppress,
    const std::vector<std::string>& amplify, double factor_suppress, double factor_amplify,
    c10::optional<double> conceptual_threshold, int64_t max_tokens, bool sample, double temperature, int64_t seed,
    bool recompute) const {
  return with_one_line_errors([&] {
    SteeringOptions options;
    for (const std::string& span : suppress) options.controls.push_back({ControlKind::kSuppress, span});
    for (const std::string& span : amplify) options.controls.push_back({ControlKind::kAmplify, span});
    options.suppress_factor = factor_suppress;
    options.amplify_factor = factor_amplify;
    options.conceptual_threshold =
        conceptual_threshold ? std::optional<double>(*conceptual_threshold) : std::nullopt;
    options.max_tokens = max_tokens;
    options.sample = sample;
    options.temperature = temperature;
    if (seed < 0) throw std::invalid_argument(fmt::format("generate: seed must be >= 0, got {}", seed));
    options.seed = static_cast<uint64_t>(seed);
    options.path = recompute ? DecodePath::kRecompute : DecodePath::kAuto;
    cv::Mat image;
    if (image_path) image = read_image_path(*model_, model_path_, *image_path);
    const SteeredGeneration g = steer(*model_, prompt, image, options);
    return std::make_tuple(g.steered.text, at::tensor(g.steered.ids, at::kLong).reshape({-1}), g.unsteered.text,
                           at::tensor(g.unsteered.ids, at::kLong).reshape({-1}));
  });
}

std::string ExplainerClass::config() const {
  return with_one_line_errors([&] { return config_json(*model_); });
}

}  // namespace atman::ops
