#include "atman/generate/steering.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <random>
#include <set>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include "atman/base/text.h"
#include "atman/core/options.h"
#include "atman/core/suppression.h"
#include "atman/core/units.h"
#include "atman/io/error_text.h"
#include "atman/io/image.h"
#include "atman/model/answer.h"
#include "atman/model/sequence.h"

namespace atman {
namespace {

constexpr int64_t kMaxTokens = 4096;

void check_factor_range(const char* what, double value, bool ok, const char* range) {
  if (!std::isfinite(value) || !ok) {
    throw std::invalid_argument(fmt::format("{} must be a finite number {}, got {}", what, range, value));
  }
}

}  // namespace

const char* decode_path_name(DecodePath path) {
  switch (path) {
    case DecodePath::kAuto: return "auto";
    case DecodePath::kCache: return "kv-cache";
    case DecodePath::kRecompute: return "recompute";
  }
  return "?";
}

void check_steering_options(const SteeringOptions& o) {
  check_factor_range("suppress factor", o.suppress_factor, o.suppress_factor >= 0.0 && o.suppress_factor < 1.0,
                     "in [0, 1)");
  check_factor_range("amplify factor", o.amplify_factor, o.amplify_factor > 1.0 && o.amplify_factor <= 1000.0,
                     "in (1, 1000]");
  if (o.conceptual_threshold) {
    const double k = *o.conceptual_threshold;
    check_factor_range("conceptual threshold", k, k >= -1.0 && k <= 1.0, "in [-1, 1]");
  }
  if (o.max_tokens < 1 || o.max_tokens > kMaxTokens) {
    throw std::invalid_argument(fmt::format("max tokens must be in [1, {}], got {}", kMaxTokens, o.max_tokens));
  }
  if (o.sample) {
    check_factor_range("temperature", o.temperature, o.temperature > 0.0 && o.temperature <= 100.0, "in (0, 100]");
  }
  for (const SteeringControl& c : o.controls) {
    if (c.span.empty()) throw std::invalid_argument(fmt::format("a {} span is empty", control_kind_name(c.kind)));
  }
}

at::Tensor steering_modifier(const at::Tensor& embeddings, int64_t sequence_length,
                             const std::vector<ResolvedControl>& controls, const SteeringOptions& options) {
  const int64_t s = sequence_length;
  std::vector<int64_t> owner(s, -1);  // index of the control that names a position itself
  std::vector<std::vector<int64_t>> members(2);
  for (size_t c = 0; c < controls.size(); ++c) {
    const ResolvedControl& control = controls[c];
    for (int64_t pos : control.positions) {
      TORCH_CHECK(pos >= 0 && pos < s, "steering_modifier: position ", pos, " is outside [0, ", s, ")");
      if (owner[pos] >= 0 && controls[owner[pos]].kind != control.kind) {
        const ResolvedControl& other = controls[owner[pos]];
        throw std::invalid_argument(fmt::format("position {} is both suppressed and amplified (spans {} and {})", pos,
                                                quoted_text(other.span), quoted_text(control.span)));
      }
      if (owner[pos] < 0) members[control.kind == ControlKind::kSuppress ? 0 : 1].push_back(pos);
      owner[pos] = static_cast<int64_t>(c);
    }
  }
  at::Tensor similarity;
  if (options.conceptual_threshold && (!members[0].empty() || !members[1].empty())) {
    TORCH_CHECK(embeddings.defined() && embeddings.dim() == 2 && embeddings.size(0) == s,
                "steering_modifier: expected embeddings [", s, ", D], got ",
                embeddings.defined() ? embeddings.sizes() : at::IntArrayRef{});
    similarity = cosine_similarity_matrix(embeddings);
  }
  // Each kind alone: modifier_rows with all its positions as one group (members
  // get the factor; neighbours the conceptual factor furthest from 1).
  const double factors[2] = {options.suppress_factor, options.amplify_factor};
  at::Tensor rows[2];
  for (int k = 0; k < 2; ++k) {
    rows[k] = members[k].empty() ? at::ones({s}, at::kDouble)
                                 : modifier_rows(similarity, s, {members[k]}, factors[k], options.conceptual_threshold)
                                       .select(0, 0)
                                       .to(at::kDouble);
  }
  at::Tensor out = at::ones({s}, at::kDouble);
  auto m = out.accessor<double, 1>();
  auto sup = rows[0].accessor<double, 1>();
  auto amp = rows[1].accessor<double, 1>();
  for (int64_t j = 0; j < s; ++j) {
    if (owner[j] >= 0) {
      m[j] = factors[controls[owner[j]].kind == ControlKind::kSuppress ? 0 : 1];
    } else {
      // A neighbour of both kinds keeps the factor furthest from 1 in ratio.
      m[j] = std::abs(std::log(sup[j])) >= std::abs(std::log(amp[j])) ? sup[j] : amp[j];
    }
  }
  return out.to(at::kFloat);
}

DecodePath resolve_decode_path(const Model& model, DecodePath requested) {
  const bool cache = model.capabilities().kv_generation();
  if (requested == DecodePath::kAuto) return cache ? DecodePath::kCache : DecodePath::kRecompute;
  if (requested == DecodePath::kCache && !cache) {
    throw std::invalid_argument(fmt::format("{}: model {} has no step_from_cache and lm_head methods, so it cannot "
                                            "generate with a KV cache (docs/contract.md)",
                                            model.path(), model.config().name));
  }
  return requested;
}

namespace {

// The model's state while generating: every position so far (recompute) or
// the cache and the positions not yet in it, and the next token's logits.
class Decoder {
 public:
  Decoder(const Model& model, const at::Tensor& embeddings, const at::Tensor& modifier, DecodePath path)
      : model_(model),
        path_(path),
        target_only_(model.capabilities().target_only()),
        prompt_modifier_(modifier.to(at::kFloat).unsqueeze(0)),
        prompt_length_(embeddings.size(1)),
        length_(prompt_length_),
        sequence_(embeddings),
        pending_(embeddings) {}

  int64_t length() const { return length_; }

  // Logits [V] for the position after the last one.
  at::Tensor next_logits() {
    // Generated keys get the factor 1; the prompt's keep theirs.
    const at::Tensor modifier =
        length_ == prompt_length_
            ? prompt_modifier_
            : at::cat({prompt_modifier_, at::ones({1, length_ - prompt_length_}, at::kFloat)}, 1);
    at::Tensor logits;
    if (path_ == DecodePath::kCache) {
      if (!cache_.defined()) cache_ = model_.empty_cache();
      auto [hidden, extended] = model_.step_from_cache(pending_, cache_, modifier);
      cache_ = extended;
      logits = model_.lm_head(hidden.select(1, hidden.size(1) - 1)).select(0, 0);
    } else if (target_only_) {
      const at::Tensor hidden = model_.hidden_states(sequence_, modifier);
      logits = model_.lm_head(hidden.select(1, length_ - 1)).select(0, 0);
    } else {
      logits = model_.forward(sequence_, modifier).select(1, length_ - 1).select(0, 0);
    }
    if (!at::isfinite(logits).all().item<bool>()) {
      throw std::runtime_error("model " + model_.path() + " returned non-finite logits (NaN or Inf)");
    }
    return logits;
  }

  void append(int64_t id) {
    const at::Tensor embedding = model_.embed_text(at::tensor({id}, at::kLong).unsqueeze(0));
    if (path_ == DecodePath::kCache) {
      pending_ = embedding;
    } else {
      sequence_ = at::cat({sequence_, embedding}, 1);
    }
    ++length_;
  }

 private:
  const Model& model_;
  const DecodePath path_;
  const bool target_only_;
  const at::Tensor prompt_modifier_;
  const int64_t prompt_length_;
  int64_t length_;
  at::Tensor sequence_;  // recompute: every position so far
  at::Tensor pending_;   // cache: the positions not yet in the cache
  at::Tensor cache_;
};

// Inverse-CDF sampling of softmax(logits / T) in float64 with a 53-bit
// uniform from mt19937_64: the same seed gives the same tokens.
int64_t sample_token(const at::Tensor& logits, double temperature, std::mt19937_64& rng) {
  const at::Tensor probs = at::softmax(logits.to(at::kDouble) / temperature, 0).contiguous();
  const double u = static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
  const double* p = probs.data_ptr<double>();
  const int64_t v = probs.size(0);
  double cumulative = 0.0;
  int64_t next = v - 1;
  for (int64_t i = 0; i < v; ++i) {
    cumulative += p[i];
    if (u < cumulative) {
      next = i;
      break;
    }
  }
  while (next > 0 && p[next] == 0.0) --next;  // rounding past the end lands on a possible token
  return next;
}

}  // namespace

GeneratedText generate_with_modifier(const Model& model, const at::Tensor& embeddings, const at::Tensor& modifier,
                                     const SteeringOptions& options, DecodePath path, bool steered) {
  TORCH_CHECK(path != DecodePath::kAuto, "generate_with_modifier: resolve the decode path first");
  TORCH_CHECK(embeddings.dim() == 3 && embeddings.size(0) == 1 && modifier.dim() == 1 &&
                  modifier.size(0) == embeddings.size(1),
              "generate_with_modifier: expected embeddings [1, S, D] and modifier [S], got ", embeddings.sizes(),
              " and ", modifier.sizes());
  c10::InferenceMode guard;
  // TorchScript's plain plan, as the explainer's passes run (docs/speed.md#fixed-costs):
  // every step has a new sequence length, and the profiling executor would
  // profile and re-optimise the graph for each.
  const torch::jit::GraphOptimizerEnabledGuard plain_plan(false);
  using Clock = std::chrono::steady_clock;
  const ModelConfig& config = model.config();
  Decoder decoder(model, embeddings, modifier, path);
  std::mt19937_64 rng(options.seed);
  GeneratedText out;
  out.stop = "max_tokens";
  std::vector<at::Tensor> kept;
  const auto start = Clock::now();
  while (static_cast<int64_t>(out.ids.size()) < options.max_tokens) {
    if (decoder.length() >= config.max_positions) {
      out.stop = "max_positions";
      break;
    }
    const auto step_start = Clock::now();
    const at::Tensor logits = decoder.next_logits();
    const at::Tensor choices = writable_logits(model, logits);
    const int64_t next =
        options.sample ? sample_token(choices, options.temperature, rng) : choices.argmax(0).item<int64_t>();
    if (options.keep_logits) kept.push_back(logits.clone());
    if (options.stop_at_eos && config.eos_id && next == *config.eos_id) {
      out.stop = "eos";
      break;
    }
    out.ids.push_back(next);
    out.logprobs.push_back(at::log_softmax(logits.to(at::kDouble), 0)[next].item<double>());
    decoder.append(next);
    if (options.on_token) options.on_token(steered, next);
    out.step_seconds.push_back(std::chrono::duration<double>(Clock::now() - step_start).count());
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  out.text = trimmed(model.tokenizer().decode(out.ids), " ");
  if (options.keep_logits) {
    out.logits = kept.empty() ? at::empty({0, config.vocab_size}, at::kFloat) : at::stack(kept);
  }
  return out;
}

SteeredGeneration steer(const Model& model, const std::string& prompt, const cv::Mat& image_rgb,
                        const SteeringOptions& options) {
  check_steering_options(options);
  if (!image_rgb.empty() && !model.has_image()) {
    throw std::invalid_argument("model " + model.path() + " is text-only (config image is null) but an image was given");
  }
  const ModelConfig& config = model.config();
  SteeredGeneration g;
  g.prompt = build_steering_prompt(model, prompt, image_rgb.empty() ? 0 : config.image->patches());
  for (const SteeringControl& control : options.controls) {
    g.controls.push_back({control.kind, control.span, resolve_span(g.prompt, model.tokenizer(), control.span)});
  }
  g.path = resolve_decode_path(model, options.path);

  c10::InferenceMode guard;
  const torch::jit::GraphOptimizerEnabledGuard plain_plan(false);  // as in generate_with_modifier
  const SteeringPrompt& p = g.prompt;
  at::Tensor embeddings;  // [1, S, D]: text with the image at image_begin
  const at::Tensor text = p.text_ids.empty() ? at::Tensor()
                                             : model.embed_text(at::tensor(p.text_ids, at::kLong).unsqueeze(0));
  if (p.image_positions == 0) {
    embeddings = text;
  } else {
    const at::Tensor image = model.embed_image(image_to_tensor(image_rgb, *config.image));
    embeddings = !text.defined() ? image
                                 : at::cat({text.narrow(1, 0, p.image_text_split), image,
                                            text.narrow(1, p.image_text_split, text.size(1) - p.image_text_split)},
                                           1);
  }
  g.embeddings = embeddings;
  g.modifier = steering_modifier(embeddings.select(0, 0), p.length(), g.controls, options);
  g.steered = generate_with_modifier(model, embeddings, g.modifier, options, g.path);
  if (options.unsteered) {
    if (at::all(g.modifier == 1.0).item<bool>()) {
      g.unsteered = g.steered;
    } else {
      g.unsteered = generate_with_modifier(model, embeddings, at::ones({p.length()}, at::kFloat), options, g.path,
                                           /*steered=*/false);
    }
  }
  return g;
}

}  // namespace atman
