#include "sweep_budget.h"

#include <filesystem>

#include <fmt/format.h>

#include "atman/core/sweep_memory.h"
#include "atman/model/sequence.h"

namespace atman::runner {

void require_model_load(const MemoryBudget& budget, const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return;  // missing or unreadable: Model::load says why
  budget.require(estimate_model_load_bytes(static_cast<int64_t>(size)), "loading the model " + path);
}

void check_sweep_memory(const MemoryBudget& budget, const Model& model, const ExplainInput& input,
                        const ExplainOptions& options, bool renders_image) {
  const int64_t image_positions = input.image_rgb.empty() ? 0 : model.config().image->patches();
  const Sequence seq = build_sequence(model, input.prompt, input.target, image_positions);
  const bool full_logits = options.strategy == PassStrategy::kFullLogits || !model.capabilities().target_only();
  SweepMemory sweep = estimate_sweep_memory(model.config(), seq.length(), seq.length(),
                                            static_cast<int64_t>(seq.target_ids.size()), full_logits,
                                            options.conceptual_threshold.has_value());
  if (!input.image_rgb.empty() && renders_image) {
    sweep.fixed_bytes += int64_t{24} * static_cast<int64_t>(input.image_rgb.total());  // overlay at the image's resolution
  }
  if (options.batch_size > 0) {
    budget.require(sweep.bytes(options.batch_size),
                   fmt::format("{}: the sweep ({} positions, --batch-size {})", model.path(), seq.length(),
                               options.batch_size));
  } else {
    budget.require(sweep.bytes(1), fmt::format("{}: the sweep ({} positions, batch size 1)", model.path(), seq.length()));
  }
}

}  // namespace atman::runner
