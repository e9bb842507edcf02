#pragma once
// atman-cpp: AtMan explanations (arXiv 2301.08110) for TorchScript contract
// models. The one header users include.
//
//   #include "atman/atman.h"
//   auto model = atman::Model::load("torchscript_models/tiny_magma.pt");
//   atman::Explainer explainer(model);
//   atman::ExplainInput input{atman::prompt_from_question(model->config(), "What color is the circle?"),
//                             " red", atman::read_image_rgb("data/example/shapes.png")};
//   atman::Explanation e = explainer.explain(input, atman::ExplainOptions{});
//   std::string json = atman::explanation_to_json(e);

#include "atman/explainer.h"
#include "atman/explanation.h"
#include "atman/image.h"
#include "atman/json_output.h"
#include "atman/model.h"
#include "atman/options.h"
#include "atman/pass_runner.h"
#include "atman/sequence.h"
#include "atman/suppression.h"
#include "atman/tokenizer.h"
