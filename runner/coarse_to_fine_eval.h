#pragma once
// `atman eval --image-search coarse-to-fine`: the coarse-to-fine comparison
// (eval/coarse_to_fine_report.h) instead of the method evaluation.

#include <string>

#include "atman/core/options.h"

namespace atman::runner {

/// Compares the full patch sweep with `fast` (coarse to fine) on the first
/// `limit` image items of each set under `data` (0: all), prints the table
/// and writes OUT/coarse_to_fine.md and OUT/coarse_to_fine.json. Returns 0.
int run_coarse_to_fine_eval(const std::string& model_path, const std::string& data, const std::string& out,
                            const ExplainOptions& fast, int64_t limit, bool quiet);

}  // namespace atman::runner
