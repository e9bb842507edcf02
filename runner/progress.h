#pragma once
// A one-line progress bar on stderr, drawn only when stderr is a terminal.

#include <cstdint>

namespace atman::runner {

/// Usage:
///   ProgressBar bar(!quiet);
///   bar.update(done, total, elapsed_seconds);   // redraws in place
///   bar.finish();                               // clears the line
class ProgressBar {
 public:
  /// Draws only when `wanted` and stderr is a terminal.
  explicit ProgressBar(bool wanted);
  ~ProgressBar();
  void update(int64_t done, int64_t total, double elapsed_seconds);
  void finish();
  bool enabled() const { return enabled_; }

 private:
  bool enabled_ = false;
  bool drawn_ = false;
};

}  // namespace atman::runner
