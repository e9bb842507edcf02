#pragma once
// `atman bench --background N` (docs/speed.md#threads-on-a-shared-machine):
// the explain command timed on a quiet machine and beside N busy processes
// that the benchmark starts and stops itself, for --threads 1, the default
// threads, and the default with the OpenMP wait-policy fix disabled
// (ATMAN_KEEP_WAIT_POLICY=1 ATMAN_THREADS_IGNORE_LOAD=1), side by side in one run.
//
// Each measurement is one whole `atman explain` command, started through the
// `atman` launcher beside this program as users start it, on the bundled example unless an input is given; its JSON
// gives the sweep, compile and load seconds, and wait4 its CPU time. The busy
// processes are forked loops that die with this process (PR_SET_PDEATHSIG),
// and are killed when the measurement ends, fails or is interrupted.

#include <cstdint>
#include <string>

namespace atman::runner {

struct BackgroundBenchArgs {
  std::string model;
  std::string image, question, prompt, target;  // empty: the bundled example
  bool has_question = false, has_prompt = false;
  int64_t background = 2;  // busy processes of the loaded phase (0: quiet phase only)
  int64_t repeat = 1;      // runs of every variant per phase, interleaved; medians reported
  std::string csv, json_path;
};

/// Runs the measurement and prints the table to stdout; returns the exit code.
int run_background_bench(const BackgroundBenchArgs& args);

}  // namespace atman::runner
