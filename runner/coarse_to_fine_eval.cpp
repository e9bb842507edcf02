#include "coarse_to_fine_eval.h"

#include <cstdio>
#include <filesystem>

#include "atman/io/atomic_file.h"
#include "atman/model/model.h"
#include "eval/coarse_to_fine_report.h"
#include "progress.h"

namespace atman::runner {

int run_coarse_to_fine_eval(const std::string& model_path, const std::string& data, const std::string& out,
                            const ExplainOptions& fast, int64_t limit, bool quiet) {
  const std::vector<EvalSet> sets = load_eval_sets(data);
  std::shared_ptr<const Model> model = Model::load(model_path);
  std::filesystem::create_directories(out);
  ExplainOptions full = fast;
  full.image_search = ImageSearch::kFull;
  full.image_granularity = 0;
  ProgressBar bar(!quiet, "items");
  const CoarseToFineReport report =
      compare_coarse_to_fine(model, sets, full, fast, limit, [&](int64_t k, int64_t n) { bar.update(k, n, 0.0); });
  bar.finish();
  const std::string table = format_coarse_to_fine(report);
  write_file_atomically((std::filesystem::path(out) / "coarse_to_fine.md").string(), table, "coarse_to_fine.md");
  write_file_atomically((std::filesystem::path(out) / "coarse_to_fine.json").string(), coarse_to_fine_json(report),
                        "coarse_to_fine.json");
  std::fputs(table.c_str(), stdout);
  std::printf("\nwritten: %s/coarse_to_fine.md, %s/coarse_to_fine.json\n", out.c_str(), out.c_str());
  return 0;
}

}  // namespace atman::runner
