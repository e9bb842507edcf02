#pragma once
// The `atman` tool's subcommands. Each registers its options on the parent
// CLI11 app and returns the function that runs it after parsing.
//
// Adding a subcommand: write runner/NAME_command.cpp with
// `Command add_NAME_command(CLI::App& app)`, declare it here, list it in
// the `commands` list in main.cpp's main().

#include <functional>
#include <stdexcept>
#include <string>

namespace CLI {
class App;
}

namespace atman::runner {

/// A registered subcommand: its CLI11 sub-app and what runs it (returns the exit code).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

/// A bad combination or value of flags found after parsing: exit code 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

Command add_explain_command(CLI::App& app);
Command add_answer_command(CLI::App& app);
Command add_accuracy_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_generate_command(CLI::App& app);
Command add_tokenize_command(CLI::App& app);
Command add_serve_command(CLI::App& app);

}  // namespace atman::runner
