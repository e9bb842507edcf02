#pragma once
// The memory checks of an explanation before its work starts (the command
// line's --max-memory, the service's budget): loading the model and the sweep.

#include <string>

#include "atman/core/explainer.h"
#include "atman/core/sweep.h"
#include "atman/runtime/resource_limits.h"

namespace atman::runner {

/// Refuses a model file that cannot be loaded within the budget (before loading it).
void require_model_load(const MemoryBudget& budget, const std::string& path);

/// Refuses, before any work on the input, a sweep that does not fit the budget
/// at its batch size (the given one, else 1); `renders_image`: an overlay or
/// report is drawn at the image's resolution afterwards. The batch size itself
/// is then picked by the explainer from the same budget (default_batch_size).
void check_sweep_memory(const MemoryBudget& budget, const Model& model, const ExplainInput& input,
                        const ExplainOptions& options, bool renders_image);

}  // namespace atman::runner
