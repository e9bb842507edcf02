#pragma once
// The AtMan sweep (docs/method.md): clean pass, one perturbed pass per
// explained unit in batches, relevance R = CE(m) - CE(1) per target token.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>

#include "atman/core/explanation.h"
#include "atman/core/options.h"
#include "atman/core/units.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/runtime/cpu_budget.h"  // set_threads: the thread rule of every command

namespace atman {

class CompiledModel;  // core/pass_runner.h
class ProcessGroup;   // runtime/distributed.h

/// What to explain. `image_rgb` is 8-bit RGB (read_image_rgb); empty = no image.
struct ExplainInput {
  std::string prompt;  // verbatim (prompt_from_question builds it from a question)
  std::string target;
  cv::Mat image_rgb;
  /// A contrast answer: explain why the model says `target` rather than this
  /// (core/contrast.h); nullopt: a plain explanation.
  std::optional<std::string> contrast = std::nullopt;
};

/// Reported after each work unit; called on the explaining thread.
struct SweepProgress {
  int64_t passes_done = 0;
  int64_t passes_total = 0;
  double elapsed_seconds = 0.0;  // since the perturbed passes started
};
using ProgressCallback = std::function<void(const SweepProgress&)>;

/// Everything computed before the sweep: the sequence, its embeddings, the
/// explained groups and their modifier rows. Reused by other methods.
struct PreparedInput {
  Sequence sequence;
  at::Tensor embeddings;                     // float32 [1, S, D]
  std::vector<std::vector<int64_t>> groups;  // explained units, sequence order
  at::Tensor modifiers;                      // float32 [N, S], one row per group
  /// core/units.h's ExplainedUnits: per group its members' suppression
  /// weights (empty: all 1), its label, and kAuto's chosen granularity.
  std::vector<std::vector<double>> weights;
  std::vector<UnitLabel> labels;
  std::optional<Granularity> chosen_granularity;
};

/// Usage:
///   auto model = Model::load("tiny_magma.pt");
///   Explainer explainer(model);
///   Explanation e = explainer.explain({prompt, " red", read_image_rgb("x.png")}, ExplainOptions{});
class Explainer {
 public:
  explicit Explainer(std::shared_ptr<const Model> model);

  /// Checks the input and computes the sweep's shared parts (throws with one
  /// line). Runs without gradients; the tensors are ordinary ones, so a
  /// gradient method may start from `embeddings.detach().requires_grad_()`.
  PreparedInput prepare(const ExplainInput& input, const ExplainOptions& options) const;
  /// prepare's two steps: the image's embeddings [1, P, D] (undefined for an
  /// empty image), and the rest from them (a contrast's two sequences share
  /// the first).
  at::Tensor embed_image(const cv::Mat& image_rgb) const;
  /// `original_image`: the decoded image's size, which custom groups'
  /// rectangles refer to (0 x 0: the model's input size).
  PreparedInput prepare(const std::string& prompt, const std::string& target, const at::Tensor& image_embeddings,
                        const ExplainOptions& options, cv::Size original_image = {}) const;
  /// The whole explanation, its maps shaped as options say (core/shaping.h);
  /// with input.contrast a contrastive one (core/contrast.h, one process
  /// only). Runs under torch::InferenceMode with
  /// options.threads LibTorch threads (0: the CPUs the process may use,
  /// runtime/cpu_budget.h).
  ///
  /// With `group` (runtime/distributed.h), this process is one rank of a
  /// sharded sweep: every rank prepares the same input and plans the same
  /// units, deal_units (core/shard.h) gives each rank its share by cost, and
  /// rank 0 gathers the cross-entropies over Gloo and returns the whole
  /// explanation (the same numbers as one process with the same batch plan;
  /// stats gain world_size and rank_seconds). The other ranks return one
  /// without targets and units, stats only. Threads (options.threads 0):
  /// the CPUs divided among the group's ranks on this host. An automatic
  /// batch size is the smallest over the ranks.
  Explanation explain(const ExplainInput& input, const ExplainOptions& options,
                      const ProgressCallback& progress = {}, ProcessGroup* group = nullptr) const;

  const Model& model() const { return *model_; }
  /// The pass methods the sweep calls (the module as loaded; for kBFloat16 a
  /// cast copy), made on first use and kept for later explanations.
  std::shared_ptr<const CompiledModel> compiled(Precision precision) const;

 private:
  std::shared_ptr<const Model> model_;
  mutable std::mutex compiled_mutex_;
  mutable std::shared_ptr<const CompiledModel> compiled_[2];  // by Precision
};

}  // namespace atman
