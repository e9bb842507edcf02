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
  /// Draws only when `wanted` and stderr is a terminal; `unit` names what is counted.
  explicit ProgressBar(bool wanted, const char* unit = "passes");
  ~ProgressBar();
  void update(int64_t done, int64_t total, double elapsed_seconds);
  void finish();
  bool enabled() const { return enabled_; }

 private:
  bool enabled_ = false;
  bool drawn_ = false;
  const char* unit_ = "passes";
};

}  // namespace atman::runner
