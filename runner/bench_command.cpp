// `atman bench`: the published AtMan algorithm (every pass a full recompute
// with full [B, S, V] logits, fixed batch, the module as loaded) against ours
// (prefix reuse, target-only log-probs, frozen graph, memory-sized batches),
// in one process on the same inputs; plus bfloat16's deviation and speed, and
// how time and memory grow with the sequence length.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/core/explainer.h"
#include "atman/io/atomic_file.h"
#include "atman/io/image.h"
#include "atman/model/sequence.h"
#include "atman/runtime/memory_meter.h"
#include "atman/runtime/resource_limits.h"
#include "bench/bench_case.h"
#include "bench/bench_report.h"
#include "bench/coarse_to_fine_bench.h"
#include "bench_background.h"
#include "bundled_example.h"
#include "commands.h"
#include "flag_checks.h"
#include "input_flags.h"
#include "thread_report.h"
#include "unit_flags.h"

namespace atman::runner {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct BenchArgs {
  std::string model, image, question, prompt, target, csv, json_path, length_model;
  std::string lengths = "128,256,512,1024";
  double suppression_factor = ExplainOptions{}.suppression_factor;
  double conceptual_threshold = kDefaultConceptualThreshold;
  int64_t threads = 0;
  int64_t batch_size = 0;
  int64_t published_batch = 0;
  int64_t max_memory_mb = 0;
  int64_t repeat = 1;
  bool length_sweep = false;
  bool skip_bf16 = false;
  bool skip_coarse_to_fine = false;  // image inputs: the coarse-to-fine row (coarse_to_fine_bench.h)
  std::string image_granularity = "3";  // as explain's flag; bench's coarse-to-fine row needs tiles
  double refine_fraction = ExplainOptions{}.refine_fraction;
  bool has_question = false, has_prompt = false;
  int64_t background = -1;  // --background N: the contention benchmark (bench_background.h); -1: off
};

std::vector<int64_t> parse_lengths(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 4 || v > 1000000) {
      throw UsageError("--lengths must be comma-separated integers >= 4, got \"" + text + "\"");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("--lengths is empty");
  return out;
}

// The input to explain: the flags, or the bundled example (data/example).
ExplainInput bench_input(const BenchArgs& a, const Model& model, std::string* described) {
  ExplainInput input;
  if (a.has_question || a.has_prompt || !a.target.empty() || !a.image.empty()) {
    if (a.has_question == a.has_prompt) throw UsageError("give exactly one of --question and --prompt");
    if (a.target.empty()) throw UsageError("--target is required with --question/--prompt");
    input.prompt = a.has_prompt ? a.prompt : prompt_from_question(model.config(), a.question);
    input.target = a.target;
    if (!a.image.empty()) input.image_rgb = read_image_rgb(a.image);
    *described = a.image.empty() ? "the given prompt" : a.image;
    return input;
  }
  if (!model.has_image()) {  // a Facts-QA-style text prompt
    input.prompt = prompt_from_question(model.config(),
                                        "Alice lives in Paris. Bob works as a baker. Carol likes apples. "
                                        "Question: Where does Alice live? Answer:");
    input.target = " Paris";
    *described = "a built-in Facts-QA prompt";
    return input;
  }
  const BundledExample example = read_bundled_example();
  input.prompt = prompt_from_question(model.config(), example.question);
  input.target = example.target;
  const std::string& image = example.image;
  input.image_rgb = read_image_rgb(image);
  *described = image;
  return input;
}

// A text prompt of exactly `length` prompt positions (BOS included) for the length sweep.
std::string prompt_of_length(const Model& model, int64_t length) {
  static const char* kWords[] = {"Alice", "lives", "in", "Paris.", "Bob", "works", "as", "a", "baker.",
                                 "Carol", "likes", "apples.", "Dave", "lives", "in", "Rome."};
  const int64_t bos = model.config().add_bos ? 1 : 0;
  std::string prompt;
  for (size_t i = 0;; ++i) {
    const std::string next = prompt.empty() ? kWords[0] : prompt + " " + kWords[i % 16];
    if (bos + static_cast<int64_t>(model.tokenizer().encode(next).size()) > length) break;
    prompt = next;
  }
  return prompt;
}

std::string yes_no(bool b) { return b ? "yes" : "no"; }

void print_main_table(const std::vector<BenchRow>& rows) {
  std::printf("\n%-13s %-14s %-13s %8s %8s %9s %9s %10s %6s %6s\n", "case", "variant", "strategy", "wall s",
              "cpu s", "speed-up", "(cpu)", "positions", "calls", "batch");
  for (const BenchRow& r : rows) {
    std::printf("%-13s %-14s %-13s %8.2f %8.2f %8.2fx %8.2fx %10lld %6lld %6lld\n", r.case_name.c_str(),
                r.variant.c_str(), r.strategy.c_str(), r.seconds, r.cpu_seconds, r.speedup, r.cpu_speedup,
                static_cast<long long>(r.positions), static_cast<long long>(r.calls), static_cast<long long>(r.batch));
  }
  std::printf("\n%-13s %-14s %8s %7s %11s %7s %10s %8s %6s %11s %8s %6s\n", "case", "variant", "GFLOP/s", "% peak",
              "GFLOP/cpu-s", "% peak", "tensors MB", "plain", "ratio", "resident MB", "plain", "ratio");
  for (const BenchRow& r : rows) {
    std::printf("%-13s %-14s %8.1f %6.1f%% %11.1f %6.1f%% %10.1f %8.1f %5.2fx %11.1f %8.1f %5.2fx\n",
                r.case_name.c_str(), r.variant.c_str(), r.gflops, 100.0 * r.peak_fraction, r.cpu_gflops,
                100.0 * r.cpu_peak_fraction, r.tensor_mb, r.plain_tensor_mb, r.tensor_ratio, r.peak_mb,
                r.plain_forward_mb, r.memory_ratio);
  }
  std::printf("\n%-13s %-14s %11s %11s %8s %22s %6s %11s %9s %8s %9s %12s %10s\n", "case", "variant", "reuse limit",
              "% of limit", "(cpu)", "max |dR| (reference)", "agree", "max rel err", "spearman", "same top",
              "top-10 in", "top-10 |dR|", "recomputed");
  for (const BenchRow& r : rows) {
    const bool bf16 = r.variant.rfind("ours-bf16", 0) == 0;
    std::printf("%-13s %-14s %10.2fx %10.1f%% %7.1f%% %13.2e (%s) %6s %11.2e %9.4f %8s %6lld/10 %12.2e %10lld\n",
                r.case_name.c_str(), r.variant.c_str(), r.reuse_limit, 100.0 * r.limit_fraction,
                100.0 * r.cpu_limit_fraction, r.max_abs_diff, bf16 ? "fp32" : "publ",
                bf16 ? "-" : yes_no(r.agree).c_str(), r.max_rel_err, r.spearman, yes_no(r.same_top).c_str(),
                static_cast<long long>(r.top10_overlap), r.top10_max_abs, static_cast<long long>(r.recomputed));
  }
}

void print_length_table(const std::vector<BenchRow>& rows) {
  std::printf("\n%-11s %6s %-10s %9s %9s %9s %11s %8s %11s %11s %10s %7s %11s %7s\n", "case", "S", "variant", "wall s",
              "cpu s", "speed-up", "positions", "GFLOP", "GFLOP grow", "cpu grow", "tensors MB", "ratio", "resident MB",
              "ratio");
  const BenchRow* previous[2] = {nullptr, nullptr};
  for (const BenchRow& r : rows) {
    const int slot = r.variant == "published" ? 0 : 1;
    std::string growth = "-", flop_growth = "-";
    if (previous[slot] != nullptr) {
      const double scale = std::log(static_cast<double>(r.length) / static_cast<double>(previous[slot]->length));
      growth = fmt::format("S^{:.2f}", std::log(r.cpu_seconds / previous[slot]->cpu_seconds) / scale);
      flop_growth = fmt::format("S^{:.2f}", std::log(r.gflop / previous[slot]->gflop) / scale);
    }
    std::printf("%-11s %6lld %-10s %9.2f %9.2f %8.2fx %11lld %8.1f %11s %11s %10.1f %6.2fx %11.1f %6.2fx\n",
                r.case_name.c_str(), static_cast<long long>(r.length), r.variant.c_str(), r.seconds, r.cpu_seconds,
                r.speedup, static_cast<long long>(r.positions), r.gflop, flop_growth.c_str(), growth.c_str(),
                r.tensor_mb, r.tensor_ratio, r.peak_mb, r.memory_ratio);
    previous[slot] = &r;
  }
}

// What one bench run prints beside its tables, and writes into its JSON.
struct BenchContext {
  std::string described;  // the input: an image path, "the given prompt", ...
  int64_t threads = 0;
  std::string load_before, load_after;
  double load_seconds = 0.0;  // Model::load (docs/speed.md#fixed-costs)
};

void print_header(const BenchArgs& a, const Model& model, const Sequence& seq, const BenchContext& ctx,
                  Bench& bench) {
  const ModelConfig& c = model.config();
  std::printf("atman bench: %s (%s), %d layers, width %lld, %lld heads\n", c.name.c_str(), a.model.c_str(),
              static_cast<int>(c.num_layers), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.num_heads));
  std::printf("input: %s, \"%s\" -> \"%s\": S = %lld positions (%lld image + %zu prompt + %zu target - 1)\n",
              ctx.described.c_str(), seq.prompt.c_str(), seq.target.c_str(), static_cast<long long>(seq.length()),
              static_cast<long long>(seq.image_positions), seq.prompt_ids.size(), seq.target_ids.size());
  std::printf("threads %lld, load average %s (before), repeat %lld (best time kept)\n",
              static_cast<long long>(ctx.threads), ctx.load_before.c_str(), static_cast<long long>(a.repeat));
  std::printf("one-time work: model load %.2f s; compile: none in float32 (the module as loaded, plain plan), a "
              "cast copy in bfloat16; per-command figures: atman bench --background\n",
              ctx.load_seconds);
  std::printf("matmul peak (torch::mm [1024, %lld] x [%lld, %lld], best of 30): float32 %.1f GFLOP/s, %.1f "
              "GFLOP/cpu-s",
              static_cast<long long>(c.hidden_size), static_cast<long long>(c.hidden_size),
              static_cast<long long>(c.hidden_size), bench.fp32_peak().gflops, bench.fp32_peak().cpu_gflops);
  if (!a.skip_bf16) {
    std::printf("; bfloat16 %.1f GFLOP/s, %.1f GFLOP/cpu-s", bench.bf16_peak().gflops, bench.bf16_peak().cpu_gflops);
  }
  std::printf("\n");
  const ModelCost& cost = bench.cost();
  std::printf("model FLOPs: %.2f MFLOP per position (%lld multiply-adds per layer from %s) + %.1f kFLOP per "
              "(query, key) pair + %.1f kFLOP per LM-head row\n",
              cost.position_flops / 1e6, static_cast<long long>(cost.layer_weights), cost.source.c_str(),
              cost.pair_flops / 1e3, cost.head_flops / 1e3);
}

// The length sweep: text prompts of every --lengths on --length-model (default --model), single-token.
std::vector<BenchRow> run_length_sweep(const BenchArgs& a, const std::vector<int64_t>& lengths,
                                       std::shared_ptr<const Model> model, const ExplainOptions& single,
                                       AllocationMeter* meter) {
  std::vector<BenchRow> length_rows;
  std::shared_ptr<const Model> length_model = a.length_model.empty() ? model : Model::load(a.length_model);
  Bench length_bench(length_model, {a.published_batch, a.repeat}, meter);
  std::printf("\nlength sweep: %s (%s), single-token, text prompts\n", length_model->config().name.c_str(),
              (a.length_model.empty() ? a.model : a.length_model).c_str());
  for (int64_t length : lengths) {
    if (length + 1 > length_model->config().max_positions) {
      std::printf("length %lld skipped: above max_positions %lld\n", static_cast<long long>(length),
                  static_cast<long long>(length_model->config().max_positions));
      continue;
    }
    const ExplainInput text{prompt_of_length(*length_model, length), " Paris", {}};
    for (BenchRow& r : length_bench.run_case(fmt::format("length-{}", length), text, single, false)) {
      length_rows.push_back(std::move(r));
    }
  }
  print_length_table(length_rows);
  return length_rows;
}

json bench_json(const BenchArgs& a, const BenchContext& ctx, Bench& bench, const std::vector<BenchRow>& all) {
  const ModelCost& cost = bench.cost();
  json out = {{"model", bench.model().config().name},
              {"model_path", a.model},
              {"input", ctx.described},
              {"threads", ctx.threads},
              {"load_seconds", ctx.load_seconds},
              {"load_average_before", ctx.load_before},
              {"load_average_after", ctx.load_after},
              {"repeat", a.repeat},
              {"matmul_peak_gflops_fp32", bench.fp32_peak().gflops},
              {"matmul_peak_cpu_gflops_fp32", bench.fp32_peak().cpu_gflops},
              {"model_flops", {{"position", cost.position_flops}, {"pair", cost.pair_flops},
                               {"head_row", cost.head_flops}, {"source", cost.source}}},
              {"rows", json::array()}};
  if (!a.skip_bf16) {
    out["matmul_peak_gflops_bf16"] = bench.bf16_peak().gflops;
    out["matmul_peak_cpu_gflops_bf16"] = bench.bf16_peak().cpu_gflops;
  }
  for (const BenchRow& r : all) out["rows"].push_back(bench_row_json(r));
  return out;
}

// The first level of the coarse-to-fine row: --image-granularity N (at most
// the grid's side, checked by the explainer).
int64_t coarse_tiles(const BenchArgs& a) {
  const int64_t tiles = parse_image_granularity(a.image_granularity);
  if (tiles == 0) {
    throw UsageError("--image-granularity patch: bench's coarse-to-fine row starts from N x N tiles; give N >= 1");
  }
  check_int_flag("--image-granularity", tiles, 1, 1024);
  return tiles;
}

// The coarse-to-fine search against the full patch sweep, side by side (image inputs).
CoarseToFineBench run_coarse_to_fine_row(const BenchArgs& a, std::shared_ptr<const Model> model,
                                         const ExplainInput& input, const ExplainOptions& options) {
  ExplainOptions fast = options;
  fast.image_search = ImageSearch::kCoarseToFine;
  fast.image_granularity = coarse_tiles(a);
  fast.refine_fraction = a.refine_fraction;
  const CoarseToFineBench b = bench_coarse_to_fine(Explainer(std::move(model)), input, options, fast, a.repeat);
  std::printf("\nCoarse to fine (%lld x %lld tiles, refine fraction %g) against the full patch sweep, conceptual case:\n",
              static_cast<long long>(b.tiles), static_cast<long long>(b.tiles), b.refine_fraction);
  std::printf("  full patch sweep  %5lld passes  %8.3f s\n", static_cast<long long>(b.full_passes), b.full_seconds);
  std::printf("  coarse to fine    %5lld passes  %8.3f s  %.2fx faster; patch maps: Spearman %.3f, same top patch %s, "
              "%lld of %lld patches refined\n",
              static_cast<long long>(b.fast_passes), b.fast_seconds, b.speedup, b.spearman, b.same_top ? "yes" : "no",
              static_cast<long long>(b.refined), static_cast<long long>(b.patches));
  return b;
}

// Exit code 1 (one line on stderr) when a variant of ours disagrees with the published algorithm.
int check_agreement(const std::vector<BenchRow>& all) {
  for (const BenchRow& r : all) {
    if (!r.agree) {
      std::fprintf(stderr,
                   "atman: error: %s %s differs from the published algorithm by %.3g "
                   "(more than 1e-5 x max(1, largest absolute relevance))\n",
                   r.case_name.c_str(), r.variant.c_str(), r.max_abs_diff);
      return 1;
    }
  }
  return 0;
}

std::vector<int64_t> check_bench_flags(const BenchArgs& a) {
  check_int_flag("--threads", a.threads, 0, kMaxThreads);
  check_int_flag("--batch-size", a.batch_size, 0, kMaxBatchSize);
  check_int_flag("--published-batch", a.published_batch, 0, kMaxBatchSize);
  check_int_flag("--max-memory", a.max_memory_mb, 0, kMaxMemoryMb);
  check_int_flag("--repeat", a.repeat, 1, 100);
  check_real_flag("--suppression-factor", a.suppression_factor, 0.0, kMaxSuppressionFactor);
  check_real_flag("--conceptual-threshold", a.conceptual_threshold, -1.0, 1.0);
  coarse_tiles(a);
  check_real_flag("--refine-fraction", a.refine_fraction, 0.0, 1.0);
  const std::vector<int64_t> lengths = parse_lengths(a.lengths);
  if (!a.csv.empty()) check_output_path(a.csv, "csv");
  if (!a.json_path.empty()) check_output_path(a.json_path, "json");
  return lengths;
}

// --background N: the contention benchmark (bench_background.h).
int run_bench_background(const BenchArgs& a) {
  check_int_flag("--background", a.background, 0, 64);
  check_int_flag("--repeat", a.repeat, 1, 100);
  BackgroundBenchArgs b;
  b.model = a.model;
  b.image = a.image;
  b.question = a.question;
  b.prompt = a.prompt;
  b.target = a.target;
  b.has_question = a.has_question;
  b.has_prompt = a.has_prompt;
  b.background = a.background;
  b.repeat = a.repeat;
  b.csv = a.csv;
  b.json_path = a.json_path;
  return run_background_bench(b);
}

int run_bench(const BenchArgs& a) {
  if (a.background != -1) return run_bench_background(a);
  const std::vector<int64_t> lengths = check_bench_flags(a);
  BenchContext ctx;
  ctx.threads = set_threads(a.threads);
  ctx.load_before = load_average();
  AllocationMeter meter;  // before the model is loaded: every tensor's bytes are seen
  const auto load_start = std::chrono::steady_clock::now();
  auto model = Model::load(a.model);
  ctx.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
  const ExplainInput input = bench_input(a, *model, &ctx.described);
  Bench bench(model, {a.published_batch, a.repeat}, &meter);

  ExplainOptions options;
  options.suppression_factor = a.suppression_factor;
  options.batch_size = a.batch_size;
  options.max_memory_mb = a.max_memory_mb;
  options.threads = ctx.threads;
  print_header(a, *model, Explainer(model).prepare(input, options).sequence, ctx, bench);

  std::vector<BenchRow> rows;
  ExplainOptions single = options;
  single.conceptual_threshold = std::nullopt;
  for (BenchRow& r : bench.run_case("single-token", input, single, !a.skip_bf16)) rows.push_back(std::move(r));
  ExplainOptions conceptual = options;
  conceptual.conceptual_threshold = a.conceptual_threshold;
  for (BenchRow& r : bench.run_case("conceptual", input, conceptual, !a.skip_bf16)) rows.push_back(std::move(r));
  print_main_table(rows);
  std::optional<CoarseToFineBench> c2f;
  if (!input.image_rgb.empty() && !a.skip_coarse_to_fine) c2f = run_coarse_to_fine_row(a, model, input, conceptual);

  std::vector<BenchRow> all = rows;
  if (a.length_sweep) {
    const std::vector<BenchRow> length_rows = run_length_sweep(a, lengths, model, single, &meter);
    all.insert(all.end(), length_rows.begin(), length_rows.end());
  }
  ctx.load_after = load_average();
  std::printf("\nload average %s (after)\n", ctx.load_after.c_str());

  if (!a.csv.empty()) {
    write_file_atomically(a.csv, bench_rows_csv(all), "csv");
    std::printf("csv: %s\n", a.csv.c_str());
  }
  if (!a.json_path.empty()) {
    json doc = bench_json(a, ctx, bench, all);
    if (c2f) doc["coarse_to_fine"] = coarse_to_fine_json(*c2f);
    write_file_atomically(a.json_path, doc.dump(1) + "\n", "json");
    std::printf("json: %s\n", a.json_path.c_str());
  }
  return check_agreement(all);
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* sub = app.add_subcommand(
      "bench", "Time the published AtMan algorithm against ours (prefix reuse, target-only log-probs) on one input");
  add_model_flag(sub, args->model);
  add_image_flag(sub, args->image, "Image (default: the bundled example data/example for image models)");
  const PromptFlags prompt = add_prompt_flags(sub, args->question, args->prompt);
  add_target_flag(sub, args->target, false);
  sub->add_option("--csv", args->csv, "Write every measured row as CSV here");
  sub->add_option("--json", args->json_path, "Write the measurements as JSON here");
  add_threads_flag(sub, args->threads);
  sub->add_option("--batch-size", args->batch_size, "Rows per pass for ours (0: the largest that fits the memory budget)")
      ->capture_default_str();
  sub->add_option("--published-batch", args->published_batch, "Rows per pass of the published algorithm (0: ours)")
      ->capture_default_str();
  sub->add_option("--max-memory", args->max_memory_mb, "Memory budget in MB that sizes the batch (0: available memory)")
      ->capture_default_str();
  sub->add_option("--suppression-factor", args->suppression_factor, "Factor f of a suppressed position")
      ->capture_default_str();
  sub->add_option("--conceptual-threshold", args->conceptual_threshold, "kappa of the conceptual case")
      ->capture_default_str();
  sub->add_option("--repeat", args->repeat, "Runs of every variant, interleaved; the best time is kept")
      ->capture_default_str();
  sub->add_flag("--length-sweep", args->length_sweep,
                "Also time text prompts of --lengths tokens (single-token) on --length-model");
  sub->add_option("--length-model", args->length_model,
                  "Model of the length sweep (default: --model), e.g. build/test_models/long_context.pt");
  sub->add_option("--lengths", args->lengths, "Prompt lengths of the length sweep")->capture_default_str();
  sub->add_flag("--skip-bf16", args->skip_bf16, "Do not time the bfloat16 variant");
  sub->add_flag("--skip-coarse-to-fine", args->skip_coarse_to_fine,
                "Image inputs: do not time coarse-to-fine image search against the full patch sweep");
  sub->add_option("--image-granularity", args->image_granularity,
                  "Coarse to fine: N for N x N tiles of patches at the first level (patch is refused: the full "
                  "patch sweep is the row it is timed against)")
      ->capture_default_str();
  sub->add_option("--refine-fraction", args->refine_fraction,
                  "Coarse to fine: refine tiles with at least this fraction of the level's top relevance")
      ->capture_default_str();
  sub->add_option("--background", args->background,
                  "Instead: time `atman explain` quiet and beside N busy processes it starts itself, for threads 1, "
                  "the default, and the default with the OpenMP wait-policy fix disabled (docs/speed.md)");
  return {sub, [args, prompt] {
            args->has_question = prompt.question->count() > 0;
            args->has_prompt = prompt.prompt->count() > 0;
            return run_bench(*args);
          }};
}

}  // namespace atman::runner
