#pragma once
// One self-contained HTML page per explanation: the overlay (embedded as a
// base64 PNG), the prompt as a text heat map with per-token values on hover,
// the target tokens with their clean cross-entropy, the top positions, and the
// sweep's parameters. No scripts, no external files; valid HTML5.
//
// Usage:
//   atman::write_html_report(explanation, &original_rgb, "out/report.html");
//   atman::write_html_report(text_only_explanation, nullptr, "out/report.html");

#include <string>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"

namespace atman {

/// What the page shows beyond the explanation itself.
struct HtmlReportOptions {
  /// The overlay's caption (e.g. overlay_caption(question, answer)); empty
  /// means "PROMPT\nTarget: TARGET".
  std::string caption;
  /// Rows of the top-positions table (all units when <= 0).
  int top_k = 20;
};

/// The page as a string. `original_rgb` may be null: then an explanation
/// with an image grid shows its heat map on a neutral gray canvas. The
/// overlay is rendered at a display size (long side 480..1024 px) so that
/// small images stay readable. Invalid UTF-8 in the explanation's strings is
/// replaced by U+FFFD; every string is HTML-escaped.
std::string render_html_report(const Explanation& explanation, const cv::Mat* original_rgb,
                               const HtmlReportOptions& options = {});

/// render_html_report written atomically to `path` (see atomic_file.h);
/// failures throw std::runtime_error "cannot write html: PATH: REASON".
void write_html_report(const Explanation& explanation, const cv::Mat* original_rgb,
                       const std::string& path, const HtmlReportOptions& options = {});

/// `text` with &, <, >, " and ' replaced by character references.
std::string html_escape(const std::string& text);

/// Standard base64 (RFC 4648, with padding) of `bytes`.
std::string base64_encode(const std::string& bytes);

}  // namespace atman
