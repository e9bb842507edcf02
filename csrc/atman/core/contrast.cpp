#include "atman/core/contrast.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <stdexcept>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "atman/core/pass_runner.h"
#include "atman/core/shaping.h"
#include "atman/core/sweep.h"
#include "atman/core/unit_labels.h"
#include "atman/model/target_pass.h"
#include "atman/runtime/memory_meter.h"

namespace atman {
namespace {

using Clock = std::chrono::steady_clock;

// The entries of `v` at `keep` (v empty: empty).
template <typename T>
std::vector<T> kept(const std::vector<T>& v, const std::vector<int64_t>& keep) {
  std::vector<T> out;
  if (v.empty()) return out;
  for (int64_t g : keep) out.push_back(v.at(static_cast<size_t>(g)));
  return out;
}

// `prepared` cut to the prompt's units (image and text): their groups,
// weights, labels and modifier rows.
PreparedInput prompt_units(PreparedInput prepared) {
  const int64_t target_begin = prepared.sequence.target_begin();
  std::vector<int64_t> keep;
  for (size_t g = 0; g < prepared.groups.size(); ++g) {
    const auto& members = prepared.groups[g];
    if (std::all_of(members.begin(), members.end(), [&](int64_t i) { return i < target_begin; })) {
      keep.push_back(static_cast<int64_t>(g));
    }
  }
  prepared.groups = kept(prepared.groups, keep);
  prepared.weights = kept(prepared.weights, keep);
  prepared.labels = kept(prepared.labels, keep);
  prepared.modifiers = prepared.modifiers.index_select(0, at::tensor(keep, at::kLong));
  return prepared;
}

std::vector<int64_t> joined(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// One sweep over the units of `prepared`, reading the answer tokens `ids` at
// logit rows `rows`: R [N, ids] and CE(1) [ids]. `done(k)` after each work unit.
struct AnswerSweep {
  at::Tensor relevance;
  at::Tensor clean_ce;
  int64_t passes = 0;
  int64_t positions = 0;
  int64_t batch = 0;
};

AnswerSweep sweep_answers(const Explainer& explainer, const PreparedInput& prepared, std::vector<int64_t> rows,
                          std::vector<int64_t> ids, const ExplainOptions& options,
                          std::shared_ptr<const CompiledModel> compiled, const std::function<void(int64_t)>& done) {
  SweepInput input{prepared.embeddings, std::move(rows), std::move(ids), options.control};
  auto runner = make_pass_runner(explainer.model(), std::move(input), options.strategy, std::move(compiled));
  const int64_t batch =
      options.batch_size > 0 ? options.batch_size : default_batch_size(explainer.model(), prepared, options);
  ProgressCallback inner;
  if (done) inner = [&](const SweepProgress& p) { done(p.passes_done); };
  const int64_t n = prepared.modifiers.size(0);
  const SweepOutput out = run_sweep_units(*runner, prepared.modifiers, runner->plan(prepared.modifiers, batch), inner);
  return {gather_relevance(out.results, n, out.clean_ce), out.clean_ce.to(at::kDouble), n + 1,
          runner->positions_computed(), batch};
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// The target's explanation of the prompt's units turned contrastive: the
// contrast's tokens and R_c [N, C] added, R[i] = sum_t R[i, t] - sum_c R_c[i, c].
void add_contrast(Explanation& e, const std::string& text, const Sequence& contrast, const at::Tensor& relevance,
                  const at::Tensor& clean_ce) {
  ContrastAnswer answer{text, {}};
  const std::vector<double> ce = to_vector(clean_ce);
  for (size_t c = 0; c < contrast.target_ids.size(); ++c) {
    answer.tokens.push_back({contrast.target_ids[c], contrast.target_pieces[c], ce[c]});
  }
  e.contrast = std::move(answer);
  const at::Tensor r = relevance.to(at::kDouble).contiguous();
  const auto rc = r.accessor<double, 2>();
  for (size_t g = 0; g < e.units.size(); ++g) {
    ExplainedUnit& unit = e.units[g];
    for (int64_t c = 0; c < r.size(1); ++c) {
      unit.per_contrast.push_back(rc[static_cast<int64_t>(g)][c]);
      unit.relevance -= rc[static_cast<int64_t>(g)][c];
    }
  }
}

void check_contrast_request(const ExplainInput& input, const ExplainOptions& options) {
  TORCH_CHECK(input.contrast.has_value(), "explain_contrast: the input has no contrast");
  check_input_text(*input.contrast, "contrast");
  if (options.image_search == ImageSearch::kCoarseToFine) {
    throw std::invalid_argument("a contrastive explanation runs the full image search: image search coarse-to-fine "
                                "does not apply");
  }
  if (options.target_granularity == TargetGranularity::kToken) {
    throw std::invalid_argument(
        "a contrastive explanation has one map (the whole target against the whole contrast): target granularity "
        "token does not apply");
  }
}

// Both answers' relevance and clean cross-entropies over the prompt's units:
// one sweep when the two sequences are the same, else one per answer.
struct BothAnswers {
  std::vector<AnswerSweep> sweeps;
  at::Tensor r_target, r_contrast, ce_target, ce_contrast;
};

BothAnswers sweep_both(const Explainer& explainer, const PreparedInput& target, const PreparedInput& contrast,
                       const ExplainOptions& options, const std::shared_ptr<const CompiledModel>& compiled,
                       const ProgressCallback& progress) {
  const Sequence& ts = target.sequence;
  const Sequence& cs = contrast.sequence;
  const bool shared = ts.text_ids() == cs.text_ids();
  const int64_t n = target.modifiers.size(0);
  const int64_t total = shared ? n : 2 * n;
  const auto start = Clock::now();
  auto report = [&](int64_t offset) -> std::function<void(int64_t)> {
    if (!progress) return {};
    return [&, offset](int64_t done) {
      progress({offset + done, total, std::chrono::duration<double>(Clock::now() - start).count()});
    };
  };
  const int64_t t = static_cast<int64_t>(ts.target_ids.size());
  BothAnswers out;
  if (shared) {
    out.sweeps.push_back(sweep_answers(explainer, target, joined(prediction_rows(ts), prediction_rows(cs)),
                                       joined(ts.target_ids, cs.target_ids), options, compiled, report(0)));
    const AnswerSweep& s = out.sweeps[0];
    out.r_target = s.relevance.narrow(1, 0, t);
    out.r_contrast = s.relevance.narrow(1, t, s.relevance.size(1) - t);
    out.ce_target = s.clean_ce.narrow(0, 0, t);
    out.ce_contrast = s.clean_ce.narrow(0, t, s.clean_ce.size(0) - t);
    return out;
  }
  out.sweeps.push_back(
      sweep_answers(explainer, target, prediction_rows(ts), ts.target_ids, options, compiled, report(0)));
  out.sweeps.push_back(
      sweep_answers(explainer, contrast, prediction_rows(cs), cs.target_ids, options, compiled, report(n)));
  out.r_target = out.sweeps[0].relevance;
  out.ce_target = out.sweeps[0].clean_ce;
  out.r_contrast = out.sweeps[1].relevance;
  out.ce_contrast = out.sweeps[1].clean_ce;
  return out;
}

}  // namespace

Explanation explain_contrast(const Explainer& explainer, const ExplainInput& input, const ExplainOptions& options,
                             const ProgressCallback& progress) {
  check_contrast_request(input, options);
  const int64_t threads = set_threads(options.threads);
  c10::InferenceMode guard;
  const at::Tensor image = explainer.embed_image(input.image_rgb);  // once for both answers
  const cv::Size size = input.image_rgb.size();  // what custom groups' rectangles refer to
  const PreparedInput target = prompt_units(explainer.prepare(input.prompt, input.target, image, options, size));
  const PreparedInput contrast = prompt_units(explainer.prepare(input.prompt, *input.contrast, image, options, size));
  if (contrast.sequence.target_ids == target.sequence.target_ids) {
    throw std::invalid_argument(fmt::format("the contrast \"{}\" is the target \"{}\" in tokens: nothing to contrast",
                                            *input.contrast, input.target));
  }
  TORCH_CHECK(target.groups == contrast.groups, "explain_contrast: the two answers' prompt units differ");
  const auto compile_start = Clock::now();
  const std::shared_ptr<const CompiledModel> compiled = explainer.compiled(options.precision);
  const double compile_seconds = std::chrono::duration<double>(Clock::now() - compile_start).count();
  const auto sweep_start = Clock::now();
  const BothAnswers both = sweep_both(explainer, target, contrast, options, compiled, progress);

  Explanation e = assemble_explanation(explainer.model().config(), "atman", target.sequence, target.groups,
                                       both.r_target, to_vector(both.ce_target), options);
  label_units(target.labels, target.chosen_granularity, e);  // core/unit_labels.h
  add_contrast(e, *input.contrast, contrast.sequence, both.r_contrast, both.ce_contrast);
  for (const AnswerSweep& s : both.sweeps) {
    e.stats.forward_passes += s.passes;
    e.stats.positions_computed += s.positions;
  }
  e.stats.threads = threads;
  e.stats.batch_size = both.sweeps[0].batch;
  e.stats.compile_seconds = compile_seconds;
  e.stats.sweep_seconds = std::chrono::duration<double>(Clock::now() - sweep_start).count();
  e.stats.peak_memory_mb = resident_peak_mb();
  finish_explanation(e, input.image_rgb);
  return e;
}

}  // namespace atman
