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
#include "atman/core/pass_runner.h"
#include "atman/core/units.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/runtime/cpu_budget.h"  // set_threads: the thread rule of every command

namespace atman {

class ProcessGroup;  // runtime/distributed.h

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

/// The cross-entropies of one work unit (pass_runner.h: a range of modifier
/// rows or a list of them), float64 [unit.size(), T] in the unit's row order.
struct WorkResult {
  WorkUnit unit;
  at::Tensor cross_entropy;
};

/// Runs one work unit.
WorkResult run_work_unit(PassRunner& runner, const at::Tensor& modifiers, const WorkUnit& unit);
/// What the sweep loop computed: CE_t(1) [T] and one result per unit.
struct SweepOutput {
  at::Tensor clean_ce;
  std::vector<WorkResult> results;
};
/// The sweep loop (explain and `atman bench` both run it): the clean pass,
/// then every unit in order, `progress` after each. Memory: it first calls
/// keep_freed_memory_for_reuse(); then, when the resident memory after a unit
/// exceeds that after the first unit by more than max(8 MB, 10%) (passes of
/// changing shapes fragment the heap), and at the end, it hands the heap's
/// free pages back to the system (malloc_trim).
SweepOutput run_sweep_units(PassRunner& runner, const at::Tensor& modifiers, const std::vector<WorkUnit>& units,
                            const ProgressCallback& progress = {});
/// glibc malloc's mmap and trim thresholds, set once per process to
/// kHeapThresholdBytes: freed tensor memory stays in the heap for the next
/// pass instead of going back to the kernel at each free (blocks above the
/// dynamic mmap threshold, up to 32 MB, are unmapped at free and every new
/// pass page-faults fresh zeroed pages: the published algorithm took 1.35x
/// the CPU time on the shipped model's example and 3.1x on 512 positions of
/// the long-context test model, measured here). Process-wide, once;
/// run_sweep_units calls it.
constexpr int kHeapThresholdBytes = 1 << 30;
void keep_freed_memory_for_reuse();
/// Assembles R[i, t] = CE_t(m_i) - CE_t(1), float64 [N, T], from any order of results
/// that covers every row exactly once (throws otherwise).
at::Tensor gather_relevance(const std::vector<WorkResult>& results, int64_t rows, const at::Tensor& clean_ce);

/// Largest automatic batch size (rows of full length per pass).
constexpr int64_t kMaxAutoBatchSize = 16;
/// Batch size used when ExplainOptions::batch_size is 0: the largest (at most
/// kMaxAutoBatchSize) whose sweep fits options.max_memory_mb, or the machine's
/// available memory (resource_limits.h). Throws ResourceLimitError when not
/// even one row fits.
int64_t default_batch_size(const Model& model, const PreparedInput& prepared, const ExplainOptions& options);

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
  /// The frozen (and for kBFloat16 cast) copy of the model the passes run on,
  /// made on first use and kept for later explanations.
  std::shared_ptr<const CompiledModel> compiled(Precision precision) const;

 private:
  std::shared_ptr<const Model> model_;
  mutable std::mutex compiled_mutex_;
  mutable std::shared_ptr<const CompiledModel> compiled_[2];  // by Precision
};

}  // namespace atman
