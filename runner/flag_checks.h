#pragma once
// Range checks of numeric flags, one message shape for every subcommand:
//   "--threads must be in [0, 1024], got -1"
//   "--suppression-factor must be a finite number in [0, 1000], got nan"
// Both throw UsageError (exit 2).

#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "atman/core/names.h"
#include "commands.h"

namespace atman::runner {

/// Documented limits of the numeric flags (also in docs/cli.md).
constexpr int64_t kMaxThreads = 1024;
constexpr int64_t kMaxBatchSize = 65536;
constexpr int64_t kMaxMemoryMb = int64_t{1} << 30;  // 1 PiB: a typo guard, not a machine
constexpr double kMaxSuppressionFactor = 1000.0;

/// --conceptual-threshold: a number in [-1, 1] or off (core/names.h), as a usage error.
inline std::optional<double> parse_threshold_flag(const std::string& text) {
  try {
    return parse_conceptual_threshold(text, "--conceptual-threshold");
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
}

inline void check_int_flag(const char* flag, int64_t value, int64_t min, int64_t max) {
  if (value < min || value > max) throw UsageError(fmt::format("{} must be in [{}, {}], got {}", flag, min, max, value));
}

inline void check_real_flag(const char* flag, double value, double min, double max) {
  if (!std::isfinite(value) || value < min || value > max) {
    throw UsageError(fmt::format("{} must be a finite number in [{}, {}], got {}", flag, min, max, value));
  }
}

}  // namespace atman::runner
