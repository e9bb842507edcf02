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

#include "atman/core/explainer.h"
#include "atman/core/explanation.h"
#include "atman/core/options.h"
#include "atman/generate/steering.h"
#include "atman/io/image.h"
#include "atman/model/answer.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/model/tokenizer.h"
#include "atman/render/html_report.h"
#include "atman/render/json_output.h"
#include "atman/render/overlay.h"
