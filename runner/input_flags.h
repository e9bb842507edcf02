#pragma once
// The flags every command that reads a model and an input shares, registered
// in one place so that their names and help texts agree across commands:
// --model, --image, --question/--prompt, --target, --threads.

#include <cstdint>
#include <string>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace atman::runner {

/// --model PATH, required.
void add_model_flag(CLI::App* sub, std::string& model);

/// --image PATH; `help` says what the command does without one.
void add_image_flag(CLI::App* sub, std::string& image, const std::string& help = "Image (any format OpenCV reads)");

/// --question and --prompt, which exclude each other; the command decides
/// whether one of them is needed (the options' count() says which came).
struct PromptFlags {
  CLI::Option* question = nullptr;
  CLI::Option* prompt = nullptr;
};
PromptFlags add_prompt_flags(CLI::App* sub, std::string& question, std::string& prompt);

/// --target TEXT; required where the command cannot choose one itself.
CLI::Option* add_target_flag(CLI::App* sub, std::string& target, bool required);

/// --threads N (0: the CPUs this process may use, docs/speed.md).
void add_threads_flag(CLI::App* sub, int64_t& threads);

}  // namespace atman::runner
