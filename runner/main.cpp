// atman: AtMan explanations for TorchScript contract models.
//
// Exit codes: 0 success, 1 failure (one line "atman: error: ..." on stderr),
// 2 usage error.

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "atman/base/text.h"
#include "atman/runtime/interrupt.h"
#include "commands.h"

namespace {

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "atman: error: %s\n", atman::first_line(message, std::string::npos).c_str());
  return code;
}

int run(int argc, char** argv) {
  using namespace atman::runner;
  // SIGINT/SIGTERM: exit 130/143 at once, naming the outputs not written; files are never half-written.
  atman::install_interrupt_handlers("atman");
  CLI::App app{"atman: explain what a TorchScript image-text or text model attends to (AtMan)", "atman"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "atman 0.1");

  std::vector<Command> commands = {
      add_explain_command(app),
      add_answer_command(app),
      add_accuracy_command(app),
      add_eval_command(app),
      add_bench_command(app),
      add_generate_command(app),
      add_tokenize_command(app),
      add_serve_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (run with --help for usage)", 2);
  }

  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    try {
      return command.run();
    } catch (const UsageError& e) {
      return fail(std::string(e.what()) + " (run with --help for usage)", 2);
    } catch (const std::exception& e) {
      return fail(atman::one_line_message(e), 1);
    } catch (...) {
      return fail("unknown failure", 1);
    }
  }
  return fail("no subcommand given (run with --help for usage)", 2);
}

}  // namespace

int main(int argc, char** argv) {
  const int code = run(argc, argv);
  // Every output is written and closed by now. Static destructors (LibTorch's
  // registries, OpenCV, the OpenMP pool) would add about 0.1 s to every
  // command (docs/speed.md#fixed-costs): leave without them.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}
