#pragma once
// One self-contained HTML page per explanation (or per input, for several
// methods): the overlay of every map (embedded base64 PNGs), the prompt as a
// text heat map, the target tokens with their clean cross-entropy, the top
// positions, and the sweep's parameters. A small inline script (no server, no
// external files) switches between the maps (the methods; the sum and each
// target token) and shows a patch's or token's value on hover; without
// scripts the page shows the first map with values in title attributes.
// Valid HTML5.
//
// Usage:
//   atman::write_html_report(explanation, &original_rgb, "out/report.html");
//   atman::write_html_report(text_only_explanation, nullptr, "out/report.html");

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "atman/core/explanation.h"
#include "atman/render/overlay.h"

namespace atman {

/// What the page shows beyond the explanation itself.
struct HtmlReportOptions {
  /// The overlay's caption (e.g. overlay_caption(question, answer)); empty
  /// means "PROMPT\nTarget: TARGET".
  std::string caption;
  /// Rows of the top-positions table (all units when <= 0).
  int top_k = 20;
  /// Colour map, opacity, clipping and borders of the image maps (their
  /// scale and strips are the page's: the caption and colour bar are HTML).
  OverlayOptions overlay;
};

/// The page as a string. `original_rgb` may be null: then an explanation
/// with an image grid shows its heat map on a neutral gray canvas. The
/// overlay is rendered at a display size (long side 480..1024 px) so that
/// small images stay readable. Invalid UTF-8 in the explanation's strings is
/// replaced by U+FFFD; every string is HTML-escaped.
std::string render_html_report(const Explanation& explanation, const cv::Mat* original_rgb,
                               const HtmlReportOptions& options = {});

/// One page for several explanations of the same input (e.g. one per method,
/// `atman eval --examples`): a switch between their maps; the prompt's tokens
/// are the first explanation's units. std::invalid_argument when empty.
std::string render_html_report(const std::vector<Explanation>& explanations, const cv::Mat* original_rgb,
                               const HtmlReportOptions& options = {});

/// render_html_report written atomically to `path` (see atomic_file.h);
/// failures throw std::runtime_error "cannot write html: PATH: REASON".
void write_html_report(const Explanation& explanation, const cv::Mat* original_rgb,
                       const std::string& path, const HtmlReportOptions& options = {});

void write_html_report(const std::vector<Explanation>& explanations, const cv::Mat* original_rgb,
                       const std::string& path, const HtmlReportOptions& options = {});

/// `text` with &, <, >, " and ' replaced by character references.
std::string html_escape(const std::string& text);

/// Standard base64 (RFC 4648, with padding) of `bytes`.
std::string base64_encode(const std::string& bytes);

}  // namespace atman
