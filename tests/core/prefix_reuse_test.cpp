// Fast exact sweeps: prefix reuse equals full recompute, the memory budget
// sizes batches without changing numbers, models without the optional
// methods still work, bfloat16 stays close; the bench helpers; `atman bench`.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/core/explainer.h"
#include "atman/core/pass_runner.h"
#include "atman/core/sweep.h"
#include "atman/core/sweep_memory.h"
#include "atman/runtime/resource_limits.h"
#include "bench/bench.h"
#include "explanation_compare.h"
#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;

cv::Mat test_image() {
  cv::Mat rgb(90, 90, CV_8UC3, cv::Scalar(120, 120, 120));
  cv::circle(rgb, cv::Point(30, 30), 15, cv::Scalar(220, 40, 40), cv::FILLED);
  cv::rectangle(rgb, cv::Rect(50, 50, 25, 25), cv::Scalar(40, 80, 220), cv::FILLED);
  return rgb;
}

using testing::max_abs;
using testing::max_abs_diff;

ExplainOptions with(PassStrategy strategy, std::optional<double> kappa, Granularity g = Granularity::kToken) {
  ExplainOptions o;
  o.strategy = strategy;
  o.conceptual_threshold = kappa;
  o.granularity = g;
  return o;
}

// Prefix reuse against the full recompute of every pass, for one input and
// several suppression settings.
void expect_reuse_equals_full(const std::string& model_name, const ExplainInput& input) {
  auto model = Model::load(testing::test_model(model_name));
  Explainer explainer(model);
  struct Case {
    const char* name;
    std::optional<double> kappa;
    Granularity granularity;
  };
  // kappa 0.2 makes most passes start at an early neighbour; 0.6 is the default.
  const Case cases[] = {{"single-token", std::nullopt, Granularity::kToken},
                        {"conceptual 0.6", 0.6, Granularity::kToken},
                        {"conceptual 0.2", 0.2, Granularity::kToken},
                        {"words", std::nullopt, Granularity::kWord},
                        {"sentences, conceptual", 0.6, Granularity::kSentence}};
  for (const Case& c : cases) {
    SCOPED_TRACE(model_name + ": " + c.name);
    const Explanation full = explainer.explain(input, with(PassStrategy::kFullLogits, c.kappa, c.granularity));
    const Explanation reuse = explainer.explain(input, with(PassStrategy::kPrefixReuse, c.kappa, c.granularity));
    EXPECT_GT(max_abs(full), 1e-3);
    EXPECT_LT(max_abs_diff(full, reuse), 1e-5);
    EXPECT_EQ(reuse.stats.forward_passes, full.stats.forward_passes);
    EXPECT_LE(reuse.stats.positions_computed, full.stats.positions_computed);  // less unless every pass starts at 0
    if (!c.kappa) EXPECT_LT(reuse.stats.positions_computed, full.stats.positions_computed);
    ASSERT_EQ(full.targets.size(), reuse.targets.size());
    for (size_t t = 0; t < full.targets.size(); ++t) EXPECT_NEAR(full.targets[t].ce, reuse.targets[t].ce, 1e-5);
  }
}

TEST(PrefixReuseTest, EqualsFullRecomputeImageText) {
  expect_reuse_equals_full("image_text.pt", {"Question: What color is the circle? It is round. Answer:",
                                             " red circle", test_image()});
}

TEST(PrefixReuseTest, EqualsFullRecomputeTextOnly) {
  expect_reuse_equals_full("text_only.pt", {"Alice lives in Paris. Bob works as a baker. Where does Alice live?",
                                            " in Paris", {}});
}

TEST(PrefixReuseTest, EqualsThePublishedAlgorithmOnTheModuleAsLoaded) {
  // The reference here is the module exactly as loaded, [B, S, V] logits.
  auto model = Model::load(testing::test_model("image_text.pt"));
  Explainer explainer(model);
  c10::InferenceMode guard;
  ExplainOptions options;
  options.conceptual_threshold = 0.3;
  const PreparedInput prepared = explainer.prepare({"What is it?", " a red circle", test_image()}, options);
  SweepInput sweep{prepared.embeddings, {}, prepared.sequence.target_ids};
  for (size_t t = 0; t < sweep.target_ids.size(); ++t) sweep.prediction_rows.push_back(prepared.sequence.prediction_row(t));
  auto published = make_pass_runner(*model, sweep, PassStrategy::kFullLogits, CompiledModel::as_loaded(*model));
  auto ours = make_pass_runner(*model, sweep, PassStrategy::kAuto);
  EXPECT_EQ(ours->name(), "prefix-reuse");
  // float32 passes run the module as loaded (no frozen copy: docs/speed.md#fixed-costs).
  EXPECT_NE(ours->description().find("float32, the module as loaded"), std::string::npos) << ours->description();
  const SweepRun a = run_sweep("published", *published, prepared.modifiers,
                               split_work(prepared.modifiers.size(0), 7));
  const SweepRun b = run_sweep("ours", *ours, prepared.modifiers, ours->plan(prepared.modifiers, 7));
  EXPECT_LT(compare_relevance(b.relevance, a.relevance).max_abs, 1e-5);
  const int64_t s = prepared.sequence.length(), n = prepared.modifiers.size(0);
  EXPECT_EQ(a.counters.positions, (n + 1) * s);
  EXPECT_EQ(a.counters.projected_rows, (n + 1) * s);
  EXPECT_LT(b.counters.positions, a.counters.positions);
  EXPECT_EQ(b.counters.projected_rows, (n + 1) * static_cast<int64_t>(sweep.target_ids.size()));
}

TEST(PrefixReuseTest, ModelWithoutOptionalMethodsFallsBackToFullRecompute) {
  auto model = Model::load(testing::test_model("minimal.pt"));
  EXPECT_EQ(resolve_strategy(*model, PassStrategy::kAuto), PassStrategy::kFullLogits);
  Explainer explainer(model);
  const ExplainInput input{"What color is the circle?", " red", test_image()};
  const Explanation e = explainer.explain(input, {});
  EXPECT_GT(max_abs(e), 1e-4);
  const int64_t s = explainer.prepare(input, {}).sequence.length();
  EXPECT_EQ(e.stats.positions_computed, e.stats.forward_passes * s);  // every pass over every position
  expect_error([&] { explainer.explain(input, with(PassStrategy::kPrefixReuse, 0.6)); },
               {"minimal.pt: the prefix-reuse strategy needs the optional methods prefix_cache, "
                "hidden_states_from_cache and lm_head"});
  // Its published computation (the module as loaded) gives the same numbers.
  c10::InferenceMode guard;
  const PreparedInput prepared = explainer.prepare(input, {});
  SweepInput sweep{prepared.embeddings, {}, prepared.sequence.target_ids};
  for (size_t t = 0; t < sweep.target_ids.size(); ++t) sweep.prediction_rows.push_back(prepared.sequence.prediction_row(t));
  auto published = make_pass_runner(*model, sweep, PassStrategy::kFullLogits, CompiledModel::as_loaded(*model));
  const SweepRun run = run_sweep("published", *published, prepared.modifiers, split_work(prepared.modifiers.size(0), 16));
  for (size_t i = 0; i < e.units.size(); ++i) {
    for (size_t t = 0; t < sweep.target_ids.size(); ++t) {
      EXPECT_NEAR(e.units[i].per_target[t], run.relevance[i][t].item<double>(), 1e-5);
    }
  }
}

// The log-additive control (docs/method.md, "Controls"): every strategy gives
// the same numbers, with factors < 1 and with f = 0 (keys removed; a pass
// that removes position 0 leaves query row 0 no key at all, which must give
// finite numbers, not NaN).
TEST(PrefixReuseTest, LogAdditiveEqualsFullRecomputeInEveryStrategy) {
  const std::pair<std::string, ExplainInput> inputs[] = {
      {"image_text.pt", {"Question: What color is the circle? It is round. Answer:", " red circle", test_image()}},
      {"text_only.pt", {"Alice lives in Paris. Bob works as a baker. Where does Alice live?", " in Paris", {}}}};
  for (const auto& [name, input] : inputs) {
    auto model = Model::load(testing::test_model(name));
    Explainer explainer(model);
    for (const double factor : {0.1, 0.0}) {
      for (const std::optional<double> kappa : {std::optional<double>(), std::optional<double>(0.6)}) {
        SCOPED_TRACE(name + ", factor " + std::to_string(factor) + (kappa ? ", conceptual" : ", single-token"));
        Explanation runs[3];
        const PassStrategy strategies[] = {PassStrategy::kFullLogits, PassStrategy::kTargetOnly,
                                           PassStrategy::kPrefixReuse};
        for (int i = 0; i < 3; ++i) {
          ExplainOptions o = with(strategies[i], kappa);
          o.control = Control::kLogAdditive;
          o.suppression_factor = factor;
          runs[i] = explainer.explain(input, o);
        }
        EXPECT_GT(max_abs(runs[0]), 1e-3);
        EXPECT_LT(max_abs_diff(runs[0], runs[1]), 1e-5);
        EXPECT_LT(max_abs_diff(runs[0], runs[2]), 1e-5);
        EXPECT_LT(runs[2].stats.positions_computed, runs[0].stats.positions_computed);
        // Not the multiplicative control's numbers.
        const Explanation multiplicative = explainer.explain(input, with(PassStrategy::kPrefixReuse, kappa));
        EXPECT_GT(max_abs_diff(runs[2], multiplicative), 1e-3);
      }
    }
  }
}

TEST(PrefixReuseTest, LogAdditiveNeedsTheAdditiveMethods) {
  auto image_text = Model::load(testing::test_model("image_text.pt"));
  EXPECT_EQ(resolve_strategy(*image_text, PassStrategy::kAuto, Control::kLogAdditive), PassStrategy::kPrefixReuse);
  EXPECT_EQ(control_name(Control::kLogAdditive), "log-additive");
  EXPECT_EQ(parse_control("multiplicative"), Control::kMultiplicative);
  expect_error([] { parse_control("additive"); },
               {"control must be", "multiplicative", "log-additive", "got \"additive\""});
  auto model = Model::load(testing::test_model("minimal.pt"));
  EXPECT_EQ(resolve_strategy(*model, PassStrategy::kAuto, Control::kLogAdditive), PassStrategy::kFullLogits);
  Explainer explainer(model);
  ExplainOptions o;
  o.control = Control::kLogAdditive;
  expect_error([&] { explainer.explain({"What color is the circle?", " red", test_image()}, o); },
               {"minimal.pt: model test-minimal has no method forward_additive(embeddings, attention_bias) "
                "(docs/optional_methods.md): the log-additive control needs it"});
}

TEST(PrefixReuseTest, AutoPicksPrefixReuseWhenTheModelHasTheMethods) {
  auto model = Model::load(testing::test_model("image_text.pt"));
  EXPECT_EQ(resolve_strategy(*model, PassStrategy::kAuto), PassStrategy::kPrefixReuse);
  EXPECT_EQ(resolve_strategy(*model, PassStrategy::kTargetOnly), PassStrategy::kTargetOnly);
  EXPECT_EQ(strategy_name(PassStrategy::kPrefixReuse), "prefix-reuse");
}

TEST(PrefixReuseTest, FirstSuppressedPositions) {
  at::Tensor m = at::ones({3, 5});
  m[0][2] = 0.1;
  m[0][4] = 0.1;
  m[1][0] = 2.0;  // amplification also counts
  EXPECT_EQ(first_suppressed(m), (std::vector<int64_t>{2, 0, 5}));
  EXPECT_DOUBLE_EQ(reuse_limit(m), 15.0 / (3.0 + 5.0 + 0.0));
}

TEST(PrefixReuseTest, PlanCoversEveryRowOnceSortedAndWithinMemory) {
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < 200; ++i) starts.push_back((i * 37) % 150);
  const int64_t length = 150, batch = 4, width = 32, heads = 4;
  const auto units = plan_prefix_passes(starts, length, batch, width, heads, 24.0);
  std::vector<int> seen(starts.size(), 0);
  int64_t previous_start = -1;
  const double full_row = length * (16.0 * width + 3.0 * heads * length) + 6.0 * length * width;
  for (const WorkUnit& u : units) {
    ASSERT_FALSE(u.rows.empty());
    int64_t lowest = length;
    for (int64_t r : u.rows) {
      ++seen[r];
      lowest = std::min(lowest, starts[r]);
      EXPECT_GE(starts[r], previous_start);  // units run in order of start
    }
    EXPECT_EQ(lowest, starts[u.rows.front()]);
    previous_start = starts[u.rows.back()];
    const int64_t q = length - lowest;
    const double row = q * (16.0 * width + 3.0 * heads * length) + 6.0 * length * width;
    EXPECT_LE(static_cast<double>(u.size()) * row, batch * full_row + 1.0);
  }
  for (int s : seen) EXPECT_EQ(s, 1);
  // With a call overhead of 0 every distinct start is its own pass: nothing recomputed.
  const auto exact = plan_prefix_passes({5, 5, 7, 9}, 10, 8, width, heads, 0.0);
  ASSERT_EQ(exact.size(), 3u);
  EXPECT_EQ(exact[0].rows, (std::vector<int64_t>{0, 1}));
}

TEST(PrefixReuseTest, WorkUnitsOfRowListsGatherInAnyOrder) {
  const at::Tensor clean = at::tensor({1.0}, at::kDouble);
  std::vector<WorkResult> results;
  results.push_back({WorkUnit(std::vector<int64_t>{3, 0}), at::tensor({3.0, 0.0}, at::kDouble).view({2, 1})});
  results.push_back({WorkUnit(1, 3), at::tensor({1.0, 2.0}, at::kDouble).view({2, 1})});
  const at::Tensor r = gather_relevance(results, 4, clean);
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(r[i][0].item<double>(), i - 1.0);
  results.push_back({WorkUnit(std::vector<int64_t>{2}), at::tensor({2.0}, at::kDouble).view({1, 1})});
  expect_error([&] { gather_relevance(results, 4, clean); }, {"row 2 computed twice"});
}

TEST(SweepMemoryTest, SmallBudgetGivesSmallerBatchesAndTheSameNumbers) {
  auto model = Model::load(testing::test_model("image_text.pt"));
  Explainer explainer(model);
  const ExplainInput input{"What color is the circle?", " red", test_image()};
  ExplainOptions roomy;
  roomy.conceptual_threshold = std::nullopt;
  // One fixed thread count: a count that changes between the calls (the
  // default follows the machine's load) starts threads whose stacks and
  // malloc arenas land between the budget's reading and the sweep's check.
  roomy.threads = 1;
  const Explanation big = explainer.explain(input, roomy);
  EXPECT_EQ(big.stats.batch_size, kMaxAutoBatchSize);

  if (!testing::kUnderAddressSanitizer) {  // resident memory under ASan is not the program's
    // A budget that leaves room for about two rows of full length on top of what is held now.
    const PreparedInput prepared = explainer.prepare(input, roomy);
    const SweepMemory need = estimate_sweep_memory(model->config(), prepared.sequence.length(),
                                                   prepared.modifiers.size(0), 1, false, false);
    ExplainOptions tight = roomy;
    tight.max_memory_mb =
        (resident_bytes() + need.fixed_bytes + 8 * model->config().num_layers * prepared.sequence.length() *
                                                   model->config().hidden_size + 2 * need.per_row_bytes) >> 20;
    tight.max_memory_mb += 1;
    EXPECT_LT(default_batch_size(*model, prepared, tight), kMaxAutoBatchSize);
    PeakMemoryProbe probe;  // resets the peak mark: the explanation's peak is what counts below
    const Explanation small = explainer.explain(input, tight);
    EXPECT_LT(small.stats.batch_size, big.stats.batch_size);
    EXPECT_GE(small.stats.batch_size, 1);
    EXPECT_LT(max_abs_diff(small, big), 1e-5);
    if (probe.reliable()) EXPECT_LE(small.stats.peak_memory_mb, static_cast<double>(tight.max_memory_mb));
  }

  // A budget below what the process holds already: refused before any pass.
  ExplainOptions none = roomy;
  none.max_memory_mb = 1;
  expect_error([&] { explainer.explain(input, none); }, {"the sweep", "--max-memory"});
}

TEST(PrecisionTest, BFloat16StaysCloseToFloat32) {
  auto model = Model::load(testing::test_model("text_only.pt"));
  Explainer explainer(model);
  const ExplainInput input{"Alice lives in Paris. Bob works as a baker. Where does Alice live?", " Paris", {}};
  ExplainOptions fp32;
  fp32.conceptual_threshold = std::nullopt;
  ExplainOptions bf16 = fp32;
  bf16.precision = Precision::kBFloat16;
  const Explanation a = explainer.explain(input, fp32);
  const Explanation b = explainer.explain(input, bf16);
  std::vector<double> ra, rb;
  for (const auto& u : a.units) ra.push_back(u.relevance);
  for (const auto& u : b.units) rb.push_back(u.relevance);
  EXPECT_GT(spearman(ra, rb), 0.8);
  EXPECT_LT(max_abs_diff(a, b), 0.5 * max_abs(a));  // random test weights: bfloat16 is rough here
  EXPECT_EQ(explainer.compiled(Precision::kBFloat16)->dtype(), at::kBFloat16);
  // The model the explainer was given keeps float32 weights.
  EXPECT_LT(max_abs_diff(a, explainer.explain(input, fp32)), 1e-9);
}

TEST(BenchHelpersTest, SpearmanAndDeviation) {
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(spearman({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(spearman({1, 1, 2}, {1, 2, 3}), 0.8660254, 1e-6);  // ties get average ranks
  const Deviation d = compare_relevance(at::tensor({1.0, -2.0, 0.5}, at::kDouble), at::tensor({1.0, -2.5, 0.5}, at::kDouble));
  EXPECT_DOUBLE_EQ(d.max_abs, 0.5);
  EXPECT_DOUBLE_EQ(d.max_relative, 0.2);
  EXPECT_TRUE(d.same_top);
  // The top-10 overlap counts ties at the tenth place as found, whichever tied unit either map picked.
  const std::vector<double> exact = {20, 19, 18, 17, 16, 15, 14, 13, 12, 1, 1, 1};
  std::vector<double> reordered = exact;
  std::swap(reordered[9], reordered[11]);  // the same values, the tied units in another order
  EXPECT_EQ(compare_relevance(at::tensor(reordered, at::kDouble), at::tensor(exact, at::kDouble)).top10_overlap, 10);
  std::vector<double> dropped = exact;
  dropped[0] = 0.5;  // the largest unit falls below the tenth
  const Deviation miss = compare_relevance(at::tensor(dropped, at::kDouble), at::tensor(exact, at::kDouble));
  EXPECT_EQ(miss.top10_overlap, 9);
  EXPECT_DOUBLE_EQ(miss.top10_max_abs, 19.5);
}

TEST(BenchHelpersTest, ModelCostCountsTheLayerWeights) {
  auto model = Model::load(testing::test_model("text_only.pt"));
  const ModelCost cost = model_cost(*model);
  // Test models: width 32, MLP 64, adapters 8: qkv 3*32*32 + out 32*32 + 2*32*64 + 2 adapters * 2*32*8.
  EXPECT_EQ(cost.layer_weights, 3 * 32 * 32 + 32 * 32 + 2 * 32 * 64 + 2 * 2 * 32 * 8);
  EXPECT_DOUBLE_EQ(cost.pair_flops, 4.0 * 32 * 2);
  PassCounters c;
  c.positions = 10;
  EXPECT_DOUBLE_EQ(cost.flops(c), 10 * cost.position_flops);
  EXPECT_GT(measure_matmul_peak(32, 64, at::kFloat, 2).gflops, 0.0);
}

TEST(E2eBenchTest, PrintsTheTableAndWritesCsvAndJson) {
  testing::TempDir tmp;
  const testing::RunResult r = testing::run_atman(
      {"bench", "--model", testing::test_model("image_text.pt"), "--threads", "1", "--csv", tmp.path("b.csv"),
       "--json", tmp.path("b.json"), "--length-sweep", "--length-model", testing::test_model("long_context.pt"),
       "--lengths", "16,32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("single-token  published"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("conceptual    ours-bf16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("length-32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("matmul peak"), std::string::npos);
  const auto j = nlohmann::json::parse(testing::read_file(tmp.path("b.json")));
  ASSERT_EQ(j["rows"].size(), 8u + 4u);  // 2 cases x 4 variants, 4 lengths
  for (const auto& row : j["rows"]) {
    if (row["variant"] == "ours-bf16+fp32") {
      // The bfloat16 map with its top units recomputed in float32: float32's top 10, exact.
      EXPECT_GT(row["recomputed"].get<int64_t>(), 0);
      EXPECT_EQ(row["top10_overlap"], 10);
      EXPECT_LT(row["top10_max_abs_diff"].get<double>(), 1e-4);
    }
    if (row["variant"] == "ours") {
      EXPECT_TRUE(row["agree"].get<bool>());
      EXPECT_EQ(row["strategy"], "prefix-reuse");
      EXPECT_LT(row["max_abs_diff"].get<double>(), 1e-5);
      EXPECT_GT(row["reuse_limit"].get<double>(), 1.0);
    }
    EXPECT_GT(row["positions_computed"].get<int64_t>(), 0);
  }
  const std::string csv = testing::read_file(tmp.path("b.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 13);
  EXPECT_EQ(csv.rfind("case,variant,strategy,", 0), 0u);

  const testing::RunResult bad = testing::run_atman({"bench", "--model", testing::test_model("image_text.pt"),
                                                     "--lengths", "12,x"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--lengths must be comma-separated integers"), std::string::npos) << bad.err;
}

// A model whose lm_head disagrees with its forward: prefix reuse differs from
// the published algorithm, and bench says so with one line and exit 1
// (after printing its table, so that the measurement is not lost).
TEST(E2eBenchTest, DisagreementIsRefusedWithOneLine) {
  const testing::RunResult r = testing::run_atman(
      {"bench", "--model", testing::bad_model("inconsistent_head.pt"), "--threads", "1", "--skip-bf16"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("single-token  ours"), std::string::npos) << r.out;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << r.err;
  EXPECT_EQ(lines.back().rfind("atman: error: single-token ours differs from the published algorithm by ", 0), 0u)
      << r.err;
  EXPECT_NE(lines.back().find(" (more than 1e-5 x max(1, largest absolute relevance))"), std::string::npos)
      << r.err;
}

TEST(E2eBenchTest, ImageGranularityTakesExplainsSyntaxButNeedsTiles) {
  // The same flag syntax as `atman explain` (patch or N), refused before any work where bench
  // cannot use it: its coarse-to-fine row starts from tiles.
  const std::string model = testing::test_model("image_text.pt");
  for (const auto& [value, words] : std::vector<std::pair<std::string, std::string>>{
           {"patch", "--image-granularity patch: bench's coarse-to-fine row starts from N x N tiles; give N >= 1"},
           {"0", "--image-granularity must be patch or a number of tiles per side >= 1, got \"0\""},
           {"2x", "--image-granularity must be patch or a number of tiles per side >= 1, got \"2x\""}}) {
    const testing::RunResult r = testing::run_atman({"bench", "--model", model, "--image-granularity", value});
    EXPECT_EQ(r.exit_code, 2) << value << ": " << r.err;
    const auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines.back(), "atman: error: " + words + " (run with --help for usage)");
  }
}

TEST(E2eBenchTest, ExplainTakesPrefixReuseAndBf16) {
  const testing::RunResult r = testing::run_atman(
      {"explain", "--model", testing::test_model("text_only.pt"), "--prompt", "Alice lives in Paris.", "--target",
       " Paris", "--quiet", "--verbose", "--precision", "bf16", "--strategy", "prefix-reuse"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("atman: passes: prefix-reuse (as asked), bfloat16"), std::string::npos) << r.err;
  const testing::RunResult m = testing::run_atman({"explain", "--model", testing::test_model("minimal.pt"), "--prompt",
                                                   "Alice lives in Paris.", "--target", " Paris", "--quiet",
                                                   "--verbose"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  EXPECT_NE(m.err.find("atman: passes: full-logits (no prefix reuse: the model lacks"), std::string::npos) << m.err;
}

}  // namespace
}  // namespace atman
