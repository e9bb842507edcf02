// `atman generate`: steered generation (docs/steering.md). The continuation
// with the controlled prompt positions suppressed or amplified in every layer,
// beside the unsteered one; optionally JSON with both, the controls and the
// positions they resolved to.

#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/core/explainer.h"
#include "atman/generate/steering.h"
#include "atman/io/atomic_file.h"
#include "atman/io/image.h"
#include "atman/model/sequence.h"
#include "commands.h"
#include "flag_checks.h"
#include "input_flags.h"

namespace atman::runner {
namespace {

struct GenerateArgs {
  std::string model, image, question, prompt, json;
  std::vector<std::string> suppress, amplify;
  double factor_suppress = 0.1;
  double factor_amplify = 2.0;
  std::string conceptual_threshold = "off";
  int64_t max_tokens = 32;
  bool sample = false;
  double temperature = 1.0;
  int64_t seed = 0;
  bool recompute = false;
  bool ignore_eos = false;
  bool no_unsteered = false;
  int64_t threads = 0;
  bool verbose = false;
};

SteeringOptions options_from(const GenerateArgs& a) {
  if (!std::isfinite(a.factor_suppress) || a.factor_suppress < 0.0 || a.factor_suppress >= 1.0) {
    throw UsageError(fmt::format("--factor-suppress must be a finite number in [0, 1), got {}", a.factor_suppress));
  }
  if (!std::isfinite(a.factor_amplify) || a.factor_amplify <= 1.0 || a.factor_amplify > 1000.0) {
    throw UsageError(fmt::format("--factor-amplify must be a finite number in (1, 1000], got {}", a.factor_amplify));
  }
  check_int_flag("--max-tokens", a.max_tokens, 1, 4096);
  check_int_flag("--threads", a.threads, 0, kMaxThreads);
  check_int_flag("--seed", a.seed, 0, INT64_MAX);
  if (a.sample) {
    if (!std::isfinite(a.temperature) || a.temperature <= 0.0 || a.temperature > 100.0) {
      throw UsageError(fmt::format("--temperature must be a finite number in (0, 100], got {}", a.temperature));
    }
  }
  SteeringOptions o;
  for (const std::string& span : a.suppress) o.controls.push_back({ControlKind::kSuppress, span});
  for (const std::string& span : a.amplify) o.controls.push_back({ControlKind::kAmplify, span});
  for (const SteeringControl& c : o.controls) {
    if (c.span.empty()) throw UsageError(fmt::format("--{} needs a span, got \"\"", control_kind_name(c.kind)));
  }
  o.suppress_factor = a.factor_suppress;
  o.amplify_factor = a.factor_amplify;
  o.conceptual_threshold = parse_threshold_flag(a.conceptual_threshold);
  o.max_tokens = a.max_tokens;
  o.stop_at_eos = !a.ignore_eos;
  o.sample = a.sample;
  o.temperature = a.temperature;
  o.seed = static_cast<uint64_t>(a.seed);
  o.path = a.recompute ? DecodePath::kRecompute : DecodePath::kAuto;
  o.unsteered = !a.no_unsteered;
  return o;
}

nlohmann::ordered_json text_json(const GeneratedText& g, const Tokenizer& tokenizer) {
  nlohmann::ordered_json j;
  j["text"] = g.text;
  j["ids"] = g.ids;
  j["pieces"] = tokenizer.pieces(g.ids);
  j["logprobs"] = g.logprobs;
  j["stop"] = g.stop;
  j["tokens"] = g.ids.size();
  j["seconds"] = g.seconds;
  j["tokens_per_second"] = g.seconds > 0 ? static_cast<double>(g.ids.size()) / g.seconds : 0.0;
  j["step_seconds"] = g.step_seconds;
  return j;
}

// A continuation on one line of stdout: newlines and tabs written as \n, \t
// (the JSON holds the text as generated).
std::string printed(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += c;
    }
  }
  return out;
}

std::string positions_text(const std::vector<int64_t>& positions) {
  std::string out;
  for (size_t i = 0; i < positions.size(); ++i) {
    // Runs of consecutive positions as a-b.
    size_t j = i;
    while (j + 1 < positions.size() && positions[j + 1] == positions[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j > i ? fmt::format("{}-{}", positions[i], positions[j]) : std::to_string(positions[i]);
    i = j;
  }
  return out;
}

// --verbose before decoding: the model and how each token will be decoded.
void report_decoding(const GenerateArgs& a, const Model& model, const SteeringOptions& options, int64_t threads) {
  const ModelConfig& config = model.config();
  const DecodePath path = resolve_decode_path(model, options.path);
  std::string why = a.recompute ? "as asked (--recompute)" : "the model has step_from_cache and lm_head";
  if (!a.recompute && path == DecodePath::kRecompute) {
    why = "fallback: the model lacks step_from_cache/lm_head, so every token recomputes the whole sequence";
  }
  std::fprintf(stderr, "atman: model %s (%s): %lld layers, width %lld, max_positions %lld, %lld threads\n",
               config.name.c_str(), a.model.c_str(), static_cast<long long>(config.num_layers),
               static_cast<long long>(config.hidden_size), static_cast<long long>(config.max_positions),
               static_cast<long long>(threads));
  std::fprintf(stderr, "atman: decoding: %s (%s), %s\n", decode_path_name(path), why.c_str(),
               options.sample ? fmt::format("sampling at temperature {} with seed {}", a.temperature, a.seed).c_str()
                              : "greedy");
}

// --verbose after decoding: the positions each span controls, and the speed.
void report_generation(const GenerateArgs& a, const SteeringOptions& options, const SteeredGeneration& g) {
  for (const ResolvedControl& c : g.controls) {
    std::fprintf(stderr, "atman: %s \"%s\": %zu position(s) %s\n", control_kind_name(c.kind), c.span.c_str(),
                 c.positions.size(), positions_text(c.positions).c_str());
  }
  int64_t changed = 0;
  for (int64_t i = 0; i < g.modifier.size(0); ++i) changed += g.modifier[i].item<float>() != 1.0f;
  std::fprintf(stderr, "atman: modifier: %lld of %lld prompt positions differ from 1 (conceptual threshold %s)\n",
               static_cast<long long>(changed), static_cast<long long>(g.prompt.length()),
               a.conceptual_threshold.c_str());
  const auto rate = [](const GeneratedText& t) { return t.seconds > 0 ? t.ids.size() / t.seconds : 0.0; };
  std::fprintf(stderr, "atman: steered: %zu tokens in %.3fs (%.1f tokens/s), stop: %s\n", g.steered.ids.size(),
               g.steered.seconds, rate(g.steered), g.steered.stop.c_str());
  if (options.unsteered) {
    std::fprintf(stderr, "atman: unsteered: %zu tokens in %.3fs (%.1f tokens/s), stop: %s\n", g.unsteered.ids.size(),
                 g.unsteered.seconds, rate(g.unsteered), g.unsteered.stop.c_str());
  }
}

// The --json document (docs/steering.md).
nlohmann::ordered_json generation_json(const GenerateArgs& a, const Model& model, const std::string& prompt,
                                       const SteeringOptions& options, const SteeredGeneration& g, int64_t threads) {
  using ojson = nlohmann::ordered_json;
  ojson j;
  j["model"] = model.config().name;
  j["prompt"] = prompt;
  j["image"] = a.image.empty() ? ojson(nullptr) : ojson(a.image);
  j["params"] = {{"factor_suppress", options.suppress_factor},
                 {"factor_amplify", options.amplify_factor},
                 {"conceptual_threshold",
                  options.conceptual_threshold ? ojson(*options.conceptual_threshold) : ojson(nullptr)},
                 {"max_tokens", options.max_tokens},
                 {"stop_at_eos", options.stop_at_eos},
                 {"sample", options.sample},
                 {"temperature", options.temperature},
                 {"seed", a.seed},
                 {"decode_path", decode_path_name(g.path)},
                 {"threads", threads}};
  j["sequence_length"] = g.prompt.length();
  if (g.prompt.image_positions > 0) {
    j["image_positions"] = {{"begin", g.prompt.image_begin},
                            {"count", g.prompt.image_positions},
                            {"grid", {g.prompt.grid_rows, g.prompt.grid_cols}}};
  }
  ojson controls = ojson::array();
  for (const ResolvedControl& c : g.controls) {
    controls.push_back({{"kind", control_kind_name(c.kind)},
                        {"span", c.span},
                        {"factor", c.kind == ControlKind::kSuppress ? options.suppress_factor : options.amplify_factor},
                        {"positions", c.positions}});
  }
  j["controls"] = controls;
  std::vector<double> modifier(g.modifier.size(0));
  for (size_t i = 0; i < modifier.size(); ++i) modifier[i] = g.modifier[i].item<float>();
  j["modifier"] = modifier;
  j["steered"] = text_json(g.steered, model.tokenizer());
  if (options.unsteered) j["unsteered"] = text_json(g.unsteered, model.tokenizer());
  return j;
}

int run_generate(const GenerateArgs& a, bool has_question, bool has_prompt) {
  if (has_question == has_prompt) throw UsageError("give exactly one of --question and --prompt");
  if (!a.sample && (a.temperature != 1.0 || a.seed != 0)) throw UsageError("--temperature and --seed need --sample");
  const SteeringOptions options = options_from(a);
  if (!a.json.empty()) check_output_path(a.json, "json");
  const int64_t threads = set_threads(a.threads);
  const auto model = Model::load(a.model);
  const ModelConfig& config = model->config();
  cv::Mat image;
  if (!a.image.empty()) {
    if (!model->has_image()) {
      throw std::invalid_argument(fmt::format("{}: model {} is text-only (config image is null): it takes no --image",
                                              a.model, config.name));
    }
    image = read_image_rgb(a.image);
  }
  const std::string prompt = has_prompt ? a.prompt : prompt_from_question(config, a.question);
  if (a.verbose) report_decoding(a, *model, options, threads);
  const SteeredGeneration g = steer(*model, prompt, image, options);
  if (a.verbose) report_generation(a, options, g);
  if (!a.json.empty()) {
    const nlohmann::ordered_json j = generation_json(a, *model, prompt, options, g, threads);
    write_file_atomically(a.json, j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", "json");
  }
  std::printf("steered:   %s\n", printed(g.steered.text).c_str());
  if (options.unsteered) std::printf("unsteered: %s\n", printed(g.unsteered.text).c_str());
  if (!a.json.empty()) std::printf("json: %s\n", a.json.c_str());
  return 0;
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* sub = app.add_subcommand(
      "generate", "Generate with parts of the prompt suppressed or amplified (steering, docs/steering.md)");
  add_model_flag(sub, args->model);
  add_image_flag(sub, args->image);
  const PromptFlags prompt = add_prompt_flags(sub, args->question, args->prompt);
  sub->add_option("--suppress", args->suppress,
                  "Span to suppress (repeatable): text, text@k (k-th occurrence, 1-based), image, "
                  "image:r0,c0,r1,c1 (patch rows/columns, 0-based, inclusive), token:k, word:k, sentence:k (1-based)");
  sub->add_option("--amplify", args->amplify, "Span to amplify (repeatable), same forms as --suppress");
  sub->add_option("--factor-suppress", args->factor_suppress, "Factor of suppressed spans, in [0, 1)")
      ->capture_default_str();
  sub->add_option("--factor-amplify", args->factor_amplify, "Factor of amplified spans, in (1, 1000]")
      ->capture_default_str();
  sub->add_option("--conceptual-threshold", args->conceptual_threshold,
                  "kappa in [-1, 1]: conceptual neighbours of the spans are controlled too; off: only the spans")
      ->capture_default_str();
  sub->add_option("--max-tokens", args->max_tokens, "Most tokens generated (also stops at eos_id)")
      ->capture_default_str();
  sub->add_flag("--sample", args->sample, "Sample instead of greedy decoding");
  sub->add_option("--temperature", args->temperature, "Sampling temperature, in (0, 100]")->capture_default_str();
  sub->add_option("--seed", args->seed, "Sampling seed (the same seed gives the same tokens)")->capture_default_str();
  sub->add_flag("--recompute", args->recompute,
                "Recompute the whole sequence for every token instead of the KV cache (the reference code's way)");
  sub->add_flag("--ignore-eos", args->ignore_eos, "Do not stop at eos_id (always --max-tokens; for benchmarks)");
  sub->add_flag("--no-unsteered", args->no_unsteered, "Generate only the steered continuation");
  sub->add_option("--json", args->json, "Write both continuations, the controls and their positions as JSON here");
  add_threads_flag(sub, args->threads);
  sub->add_flag("--verbose,-v", args->verbose, "Describe the decoding path, the resolved spans and the speed on stderr");
  return {sub, [args, prompt] {
            return run_generate(*args, prompt.question->count() > 0, prompt.prompt->count() > 0);
          }};
}

}  // namespace atman::runner
