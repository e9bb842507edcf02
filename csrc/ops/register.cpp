// The one TORCH_LIBRARY(atman, m) of the project: the schemas of the tensor
// ops (their CPU kernels are registered beside them with TORCH_LIBRARY_IMPL)
// and the custom class torch.classes.atman.Explainer.
//
//   torch.ops.load_library("build/libatman_ops.so")
//   explainer = torch.classes.atman.Explainer("torchscript_models/tiny_magma.pt")
//   r = explainer.explain("Question: What color is the circle? Answer:", " red", image_path="shapes.png")
//   explainer.generate("Once upon a time, Tom", suppress=["Tom"])   # (text, ids, unsteered text, ids)
//   torch.ops.atman.conceptual_modifiers(embeddings, positions, 0.1, 0.6)   # [N, S]
//   torch.ops.atman.relevance(clean_ce, perturbed_ce)                      # [N, T]

#include <string>

#include <torch/custom_class.h>
#include <torch/library.h>

#include "explainer_class.h"

namespace atman::ops {
namespace {

using Self = c10::intrusive_ptr<ExplainerClass>;
using Result = c10::Dict<std::string, at::Tensor>;

}  // namespace

TORCH_LIBRARY(atman, m) {
  m.def(
      "conceptual_modifiers(Tensor embeddings, Tensor positions, float suppression_factor=0.1, "
      "float? conceptual_threshold=0.6) -> Tensor");
  m.def("relevance(Tensor clean_ce, Tensor perturbed_ce) -> Tensor");

  m.class_<ExplainerClass>("Explainer")
      .def(torch::init<std::string>(), "Loads and checks a contract model (.pt, docs/contract.md)",
           {torch::arg("model_path")})
      .def(
          "explain",
          [](const Self& self, std::string prompt, std::string target, c10::optional<std::string> image_path,
             double suppression_factor, c10::optional<double> conceptual_threshold, std::string control,
             std::string method, c10::optional<std::string> contrast, std::string target_granularity,
             std::string postprocess, bool normalize, std::string units) -> Result {
            return self->explain(prompt, target, image_path, suppression_factor, conceptual_threshold, control,
                                 method, {contrast, target_granularity, postprocess, normalize, units});
          },
          "Explains target after prompt (verbatim), with an optional image file; control multiplicative or "
          "log-additive; method atman or a baseline (ixg, ig, rollout, chefer, loo, attnlrp); contrast: explain "
          "target against this answer; target_granularity, postprocess, normalize as atman explain's flags; units: the explained units as JSON "
          "(docs/library.md)",
          {torch::arg("prompt"), torch::arg("target"), torch::arg("image_path") = torch::arg::none(),
           torch::arg("suppression_factor") = 0.1, torch::arg("conceptual_threshold") = 0.6,
           torch::arg("control") = std::string("multiplicative"), torch::arg("method") = std::string("atman"),
           torch::arg("contrast") = torch::arg::none(), torch::arg("target_granularity") = std::string("complete"),
           torch::arg("postprocess") = std::string("none"), torch::arg("normalize") = false,
           torch::arg("units") = std::string("")})
      .def(
          "explain_pixels",
          [](const Self& self, std::string prompt, std::string target, at::Tensor pixels, double suppression_factor,
             c10::optional<double> conceptual_threshold, std::string control, std::string method,
             c10::optional<std::string> contrast, std::string target_granularity, std::string postprocess,
             bool normalize, std::string units) -> Result {
            return self->explain_pixels(prompt, target, pixels, suppression_factor, conceptual_threshold, control,
                                        method, {contrast, target_granularity, postprocess, normalize, units});
          },
          "Explains target after prompt (verbatim) with an image given as uint8 [3, H, W] RGB",
          {torch::arg("prompt"), torch::arg("target"), torch::arg("pixels"), torch::arg("suppression_factor") = 0.1,
           torch::arg("conceptual_threshold") = 0.6, torch::arg("control") = std::string("multiplicative"),
           torch::arg("method") = std::string("atman"), torch::arg("contrast") = torch::arg::none(),
           torch::arg("target_granularity") = std::string("complete"), torch::arg("postprocess") = std::string("none"),
           torch::arg("normalize") = false, torch::arg("units") = std::string("")})
      .def(
          "generate",
          [](const Self& self, std::string prompt, c10::optional<std::string> image_path,
             std::vector<std::string> suppress, std::vector<std::string> amplify, double factor_suppress,
             double factor_amplify, c10::optional<double> conceptual_threshold, int64_t max_tokens, bool sample,
             double temperature, int64_t seed, bool recompute) -> std::tuple<std::string, at::Tensor, std::string, at::Tensor> {
            return self->generate(prompt, image_path, suppress, amplify, factor_suppress, factor_amplify,
                                  conceptual_threshold, max_tokens, sample, temperature, seed, recompute);
          },
          "Steered generation (docs/steering.md): (steered text, ids, unsteered text, ids)",
          {torch::arg("prompt"), torch::arg("image_path") = torch::arg::none(), torch::arg("suppress") = std::vector<std::string>(),
           torch::arg("amplify") = std::vector<std::string>(), torch::arg("factor_suppress") = 0.1,
           torch::arg("factor_amplify") = 2.0, torch::arg("conceptual_threshold") = torch::arg::none(),
           torch::arg("max_tokens") = 32, torch::arg("sample") = false, torch::arg("temperature") = 1.0,
           torch::arg("seed") = 0, torch::arg("recompute") = false})
      .def(
          "config", [](const Self& self) -> std::string { return self->config(); },
          "The model's atman/config.json (parsed and checked) as one line of JSON")
      .def(
          "model_path", [](const Self& self) -> std::string { return self->model_path(); },
          "The path the model was loaded from")
      // An Explainer held by a scripted module survives torch.jit.save/load:
      // its state is the model path, and loading reloads (and rechecks) the model.
      .def_pickle([](const Self& self) -> std::string { return self->model_path(); },
                  [](std::string model_path) { return c10::make_intrusive<ExplainerClass>(model_path); });
}

}  // namespace atman::ops
