#pragma once
// The sweep loop under every explanation (docs/method.md): work units of
// modifier rows run by a PassRunner, their cross-entropies gathered into
// R = CE(m) - CE(1), and the automatic batch size. Internal: explain(), the
// coarse-to-fine and contrast plans, `atman bench` and the op library use it.

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "atman/core/explainer.h"
#include "atman/core/options.h"
#include "atman/core/pass_runner.h"
#include "atman/model/model.h"

namespace atman {

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

}  // namespace atman
