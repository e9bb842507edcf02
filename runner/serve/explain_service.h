#pragma once
// One explanation for the service: the steps of `atman explain` on a loaded
// model, its JSON document as the reply (plus the overlay PNG in base64).

#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "atman/core/explainer.h"
#include "atman/runtime/resource_limits.h"
#include "explain_request.h"
#include "served_models.h"

namespace atman::serve {

/// A loaded model with the Explainer that keeps its prepared copies.
struct ExplainerOf {
  const ServedModel* served = nullptr;
  std::shared_ptr<const Explainer> explainer;
};

struct ExplainReply {
  nlohmann::json document;  // `atman explain --json`'s document (+ "overlay_png")
  Explanation explanation;
  int64_t forward_passes = 0;
};

/// Runs `call` on `model`. `progress` is called after every batch of passes
/// and may throw to stop the sweep (a cancel, a disconnect, a timeout).
/// Throws ApiError (400 for an input the model refuses, 413 for one over the
/// memory budget) and lets the callback's exceptions through.
ExplainReply run_explain(const ExplainerOf& model, const ExplainCall& call, const MemoryBudget& budget,
                         const ProgressCallback& progress);

}  // namespace atman::serve
