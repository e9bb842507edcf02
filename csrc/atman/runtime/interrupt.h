#pragma once
// Interrupted runs (SIGINT, SIGTERM, SIGHUP) end at once with one line that
// names the outputs not written, and never leave a half-written file: every
// output is written by write_file_atomically (temporary sibling, rename),
// and a signal that arrives while a file is being written or renamed is held
// until that file is complete.
//
// Usage (a command-line tool; the library itself installs nothing):
//   atman::install_interrupt_handlers("atman");     // once, first thing in main
//   atman::check_output_path("out.json", "json");   // registers out.json as pending
//   ... long sweep ...                              // Ctrl-C here: exit 130 with
//   //  "atman: error: interrupted by SIGINT; not written: json out.json (files already there are unchanged)"
//   atman::write_file_atomically("out.json", bytes, "json");  // marks it written
//
// Exit status: 128 + the signal number (SIGINT 130, SIGTERM 143, SIGHUP 129).

#include <string>

namespace atman {

/// Installs the handlers of SIGINT, SIGTERM and SIGHUP; `program` starts the
/// printed line ("atman" -> "atman: error: interrupted by ..."). Idempotent.
void install_interrupt_handlers(const char* program);

/// Records that `path` (named `what`: "json", "overlay", ...) will be written;
/// check_output_path calls it. Up to 32 outputs are tracked by name.
void register_pending_output(const std::string& path, const std::string& what);
/// Records that `path` has been written completely (write_file_atomically calls it).
void mark_output_written(const std::string& path);

/// While one exists, an arriving signal is held, and the process ends when
/// the last one is destroyed. Used around writing and renaming one file;
/// keep the section short. Any thread may hold one.
class InterruptDeferral {
 public:
  InterruptDeferral();
  ~InterruptDeferral();
  InterruptDeferral(const InterruptDeferral&) = delete;
  InterruptDeferral& operator=(const InterruptDeferral&) = delete;
};

}  // namespace atman
