// `atman answer`: the model's greedy answer to a question (and image).

#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>

#include "atman/io/image.h"
#include "atman/model/answer.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/runtime/cpu_budget.h"
#include "commands.h"
#include "flag_checks.h"
#include "input_flags.h"

namespace atman::runner {
namespace {

struct AnswerArgs {
  std::string model, image, question, prompt;
  int64_t max_tokens = 16;
  int64_t threads = 0;
};

int run_answer(const AnswerArgs& a, bool has_question, bool has_prompt) {
  if (has_question == has_prompt) throw UsageError("give exactly one of --question and --prompt");
  if (a.max_tokens < 1 || a.max_tokens > 4096)
    throw UsageError("--max-tokens must be in [1, 4096], got " + std::to_string(a.max_tokens));
  check_int_flag("--threads", a.threads, 0, kMaxThreads);
  set_threads(a.threads);
  const auto model = Model::load(a.model);
  cv::Mat image;
  if (!a.image.empty()) image = read_image_rgb(a.image);
  const std::string prompt = has_prompt ? a.prompt : prompt_from_question(model->config(), a.question);
  std::printf("%s\n", greedy_answer(*model, prompt, image, a.max_tokens).text.c_str());
  return 0;
}

}  // namespace

Command add_answer_command(CLI::App& app) {
  auto args = std::make_shared<AnswerArgs>();
  CLI::App* sub = app.add_subcommand("answer", "Print the model's greedy answer to a question (and image)");
  add_model_flag(sub, args->model);
  add_image_flag(sub, args->image);
  const PromptFlags prompt = add_prompt_flags(sub, args->question, args->prompt);
  sub->add_option("--max-tokens", args->max_tokens, "Most tokens generated")->capture_default_str();
  add_threads_flag(sub, args->threads);
  return {sub, [args, prompt] {
            return run_answer(*args, prompt.question->count() > 0, prompt.prompt->count() > 0);
          }};
}

}  // namespace atman::runner
