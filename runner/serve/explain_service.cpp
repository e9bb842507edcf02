#include "explain_service.h"

#include <fmt/format.h>

#include "../sweep_budget.h"
#include "api_error.h"
#include "atman/core/pass_runner.h"
#include "atman/methods/registry.h"
#include "atman/model/sequence.h"
#include "atman/render/json_output.h"
#include "atman/render/overlay.h"
#include "base64.h"
#include "text_fields.h"

namespace atman::serve {
namespace {

ExplainInput read_input(const ServedModel& served, const ExplainCall& call, const MemoryBudget& budget) {
  const runner::ExplainArgs& a = call.args;
  ExplainInput input;
  if (!call.image_bytes.empty()) input.image_rgb = decode_picture(call.image_bytes, *served.model, budget);
  input.prompt = a.has_prompt ? a.prompt : prompt_from_question(served.model->config(), a.question);
  input.target = a.target;
  if (a.has_contrast) input.contrast = a.contrast;
  return input;
}

}  // namespace

ExplainReply run_explain(const ExplainerOf& model, const ExplainCall& call, const MemoryBudget& budget,
                         const ProgressCallback& progress) {
  const ServedModel& served = *model.served;
  const runner::ExplainArgs& a = call.args;
  ExplainOptions options;
  Method method;
  BaselineOptions baseline;
  ExplainInput input;
  try {
    options = runner::explain_options_from(a);
    method = parse_method(a.method);
    baseline = runner::baseline_options_from(a);
    check_method_supported(*served.model, method);
    if (method == Method::kAtman) check_control_supported(*served.model, options.control);
    input = read_input(served, call, budget);
    runner::check_sweep_memory(budget, *served.model, input, options, call.overlay);
  } catch (const ApiError&) {
    throw;
  } catch (const ResourceLimitError& e) {
    throw ApiError(413, e.what());
  } catch (const std::invalid_argument& e) {
    throw bad_request(e.what());
  }
  Explanation e;
  try {
    e = explain_with_method(*model.explainer, method, input, options, baseline, progress);
  } catch (const std::invalid_argument& error) {
    throw bad_request(error.what());  // the input (prompt too long, target empty, ...)
  }
  ExplainReply reply;
  reply.forward_passes = e.stats.forward_passes;
  reply.document = nlohmann::json::parse(explanation_to_json(e));
  if (call.overlay) {
    const std::string answer = a.has_contrast ? a.target + " rather than" + a.contrast : a.target;
    const std::string caption = overlay_caption(a.has_prompt ? a.prompt : a.question, answer);
    reply.document["overlay_png"] =
        base64_encode(render_overlay_png(e, input.image_rgb, caption, runner::overlay_options(a.overlay_flags)));
  }
  reply.explanation = std::move(e);
  return reply;
}

}  // namespace atman::serve
