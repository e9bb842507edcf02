#include "progress.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include <unistd.h>

#include <fmt/format.h>

namespace atman::runner {

ProgressBar::ProgressBar(bool wanted, const char* unit)
    : enabled_(wanted && isatty(STDERR_FILENO) == 1), unit_(unit) {}

ProgressBar::~ProgressBar() { finish(); }

void ProgressBar::update(int64_t done, int64_t total, double elapsed_seconds) {
  if (!enabled_ || total <= 0) return;
  constexpr int kWidth = 30;
  const double fraction = std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '=');
  if (filled < kWidth) bar += '>';
  bar.resize(kWidth, ' ');
  std::string eta = "";
  if (done > 0 && done < total) eta = fmt::format(", ~{:.1f}s left", elapsed_seconds / done * (total - done));
  std::fprintf(stderr, "\r\033[Katman: [%s] %lld/%lld %s, %.1fs%s", bar.c_str(), static_cast<long long>(done),
               static_cast<long long>(total), unit_, elapsed_seconds, eta.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressBar::finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace atman::runner
