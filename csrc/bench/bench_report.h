#pragma once
// `atman bench`'s measurements as files: every row as a JSON object and as a
// CSV line (--json, --csv; the column names are docs/speed.md's).

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/bench_case.h"
#include "bench/coarse_to_fine_bench.h"

namespace atman {

/// One measured row as a JSON object.
nlohmann::json bench_row_json(const BenchRow& row);
/// The CSV file of `rows`: the header line, then a line per row.
std::string bench_rows_csv(const std::vector<BenchRow>& rows);
/// The coarse-to-fine row against the full patch sweep as a JSON object.
nlohmann::json coarse_to_fine_json(const CoarseToFineBench& bench);

}  // namespace atman
