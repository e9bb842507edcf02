#include "input_flags.h"

#include <CLI/CLI.hpp>

namespace atman::runner {

void add_model_flag(CLI::App* sub, std::string& model) {
  sub->add_option("--model", model, "Explainable model (.pt, docs/contract.md)")->required();
}

void add_image_flag(CLI::App* sub, std::string& image, const std::string& help) {
  sub->add_option("--image", image, help);
}

PromptFlags add_prompt_flags(CLI::App* sub, std::string& question, std::string& prompt) {
  PromptFlags flags;
  flags.question = sub->add_option("--question", question, "Question; fills the model's prompt_template");
  flags.prompt = sub->add_option("--prompt", prompt, "Prompt, verbatim (instead of --question)");
  flags.question->excludes(flags.prompt);
  return flags;
}

CLI::Option* add_target_flag(CLI::App* sub, std::string& target, bool required) {
  CLI::Option* option = sub->add_option("--target", target, "The answer to explain, e.g. \" red\"");
  if (required) option->required();
  return option;
}

void add_threads_flag(CLI::App* sub, int64_t& threads) {
  sub->add_option("--threads", threads, "LibTorch threads (0: the CPUs this process may use, docs/cli.md)")->capture_default_str();
}

}  // namespace atman::runner
