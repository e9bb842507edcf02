#include "atman/render/html_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "atman/core/explanation.h"
#include "atman/core/names.h"
#include "atman/io/atomic_file.h"
#include "atman/methods/registry.h"
#include "atman/render/html_maps.h"
#include "atman/render/overlay.h"
#include "atman/render/safe_text.h"

namespace atman {
namespace {


// Escaped, valid UTF-8 text for element content and attribute values.
std::string text(const std::string& raw) { return html_escape(without_controls(raw, true)); }

std::string hex_colour(const cv::Vec3b& rgb) {
  return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

// Black or white, whichever reads better on `background`.
const char* text_colour_on(const cv::Vec3b& background) {
  const double luminance = 0.2126 * background[0] + 0.7152 * background[1] + 0.0722 * background[2];
  return luminance > 140.0 ? "#111" : "#fff";
}

std::string members_text(const ExplainedUnit& unit) {
  if (unit.members.size() <= 1) return std::to_string(unit.index);
  std::vector<int64_t> sorted = unit.members;
  std::sort(sorted.begin(), sorted.end());
  const bool contiguous = sorted.back() - sorted.front() + 1 == static_cast<int64_t>(sorted.size());
  if (contiguous) return fmt::format("{}\u2013{}", sorted.front(), sorted.back());
  return fmt::format("{}", fmt::join(sorted, ", "));
}

std::string unit_label(const Explanation& explanation, const ExplainedUnit& unit) {
  if (unit.kind == PositionKind::kImage) {
    const auto [rows, cols] = explanation.image_grid.value_or(std::make_pair<int64_t, int64_t>(1, 1));
    return image_unit_label(unit, rows, cols);
  }
  const std::string quoted = "\u201c" + display_piece(unit.piece) + "\u201d";
  return unit.name.empty() ? quoted : "group \u201c" + unit.name + "\u201d: " + quoted;
}

std::string number(double value) { return std::isfinite(value) ? fmt::format("{:.4f}", value) : "n/a"; }

// The hover text of a text unit: its relevance and, per target token, R[i, t].
std::string tooltip(const Explanation& explanation, const ExplainedUnit& unit) {
  std::string tip = fmt::format("{} {} (position {})\nR = {:.6g}", position_kind_name(unit.kind),
                                unit_label(explanation, unit), members_text(unit), unit.relevance);
  for (size_t t = 0; t < unit.per_target.size(); ++t) {
    const std::string piece = t < explanation.targets.size()
                                  ? display_piece(explanation.targets[t].piece)
                                  : fmt::format("#{}", t);
    tip += fmt::format("\nR[\u201c{}\u201d] = {:.6g}", piece, unit.per_target[t]);
  }
  return tip;
}

std::string prompt_section(const Explanation& explanation) {
  const double scale = text_relevance_scale(explanation);
  std::string spans;
  int shown = 0;
  for (const ExplainedUnit& unit : explanation.units) {
    if (unit.kind == PositionKind::kImage) continue;
    const cv::Vec3b background = text_background_rgb(unit.relevance, scale);
    spans += fmt::format("<span class=\"tok{}{}\" data-t=\"{}\" data-index=\"{}\" style=\"background:{};color:{}\" "
                         "title=\"{}\">{}</span>",
                         unit.kind == PositionKind::kTarget ? " target" : "", unit.members.size() > 1 ? " group" : "",
                         shown++, unit.index, hex_colour(background),
                         text_colour_on(background), text(tooltip(explanation, unit)),
                         text(display_piece(unit.piece)));
  }
  if (shown == 0) return {};
  const bool has_target_units = std::any_of(explanation.units.begin(), explanation.units.end(),
                                            [](const ExplainedUnit& u) { return u.kind == PositionKind::kTarget; });
  std::string legend;
  for (double v : {-1.0, -0.5, 0.0, 0.5, 1.0}) {
    const cv::Vec3b background = text_background_rgb(v * scale, scale);
    legend += fmt::format("<span class=\"tok\" style=\"background:{};color:{}\">{}</span>",
                          hex_colour(background), text_colour_on(background), number(v * scale));
  }
  return fmt::format(
      "<section>\n<h2>Prompt</h2>\n<p class=\"tokens\">{}</p>\n"
      "<p class=\"legend\">Red: suppressing the token made the target less likely (it supports the "
      "answer); blue: more likely. Hover a token for its values.{}{} Scale: {} "
      "(this map: <span id=\"text-scale\">\u00b1{}</span>)</p>\n</section>\n",
      spans, has_target_units ? " Framed tokens belong to the target." : "",
      explanation.params.granularity != Granularity::kToken ? " Underlined spans are groups suppressed together." : "",
      legend, number(scale));
}

std::string targets_section(const Explanation& explanation) {
  std::string rows;
  double total = 0.0;
  for (const TargetToken& target : explanation.targets) {
    total += target.ce;
    rows += fmt::format("<tr><td class=\"piece\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                        text(display_piece(target.piece)), target.id, number(target.ce),
                        number(std::exp(-target.ce)));
  }
  return fmt::format(
      "<section>\n<h2>Target</h2>\n<p>Explained answer: <code class=\"piece\">{}</code>; "
      "total clean cross-entropy {}.</p>\n"
      "<table>\n<thead><tr><th>piece</th><th>id</th><th>CE</th><th>p = exp(&minus;CE)</th></tr></thead>\n"
      "<tbody>\n{}</tbody>\n</table>\n</section>\n",
      text(explanation.target), number(total), rows);
}

std::string top_section(const Explanation& explanation, int top_k, const std::string& heading) {
  const std::vector<size_t> order = units_by_relevance(explanation, top_k);

  std::string header = "<th>rank</th><th>position</th><th>kind</th><th>unit</th><th>relevance</th>";
  const bool several_targets = explanation.targets.size() > 1;
  if (several_targets) {
    for (const TargetToken& target : explanation.targets) {
      header += fmt::format("<th>R[<span class=\"piece\">{}</span>]</th>", text(display_piece(target.piece)));
    }
  }
  std::string rows;
  int rank = 0;
  for (size_t i : order) {
    const ExplainedUnit& unit = explanation.units[i];
    rows += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"piece\">{}</td><td>{}</td>", ++rank,
                        text(members_text(unit)), position_kind_name(unit.kind), text(unit_label(explanation, unit)),
                        number(unit.relevance));
    if (several_targets) {
      for (size_t t = 0; t < explanation.targets.size(); ++t) {
        rows += fmt::format("<td>{}</td>", t < unit.per_target.size() ? number(unit.per_target[t]) : "n/a");
      }
    }
    rows += "</tr>\n";
  }
  return fmt::format(
      "<section>\n<h2>Top positions{}</h2>\n<p>{} of {} explained units, by relevance "
      "R = {}, summed over the target tokens.</p>\n"
      "<table>\n<thead><tr>{}</tr></thead>\n<tbody>\n{}</tbody>\n</table>\n</section>\n",
      heading, order.size(), explanation.units.size(), html_escape(method_relevance_description(explanation.method)), header,
      rows);
}

std::string params_section(const Explanation& explanation, const std::string& heading) {
  const ExplainOptions& p = explanation.params;
  std::vector<std::pair<std::string, std::string>> rows = {
      {"model", explanation.model},
      {"method", explanation.method},
  };
  if (explanation.method == "atman") {
    rows.emplace_back("suppression factor", fmt::format("{:g}", p.suppression_factor));
    rows.emplace_back("conceptual threshold", p.conceptual_threshold ? fmt::format("{:g}", *p.conceptual_threshold)
                                                                     : std::string("off (single-token)"));
  }
  for (const auto& [key, value] : explanation.method_params) rows.emplace_back(key, fmt::format("{:g}", value));
  for (const auto& [key, value] : explanation.method_text_params) rows.emplace_back(key, value);
  rows.emplace_back("granularity", granularity_name(p.granularity));
  if (explanation.image_grid) {
    rows.emplace_back("image grid", fmt::format("{} \u00d7 {}", explanation.image_grid->first,
                                                explanation.image_grid->second));
  }
  const SweepStats& s = explanation.stats;
  if (s.forward_passes > 0) {
    rows.emplace_back("forward passes", std::to_string(s.forward_passes));
    rows.emplace_back("sweep time", fmt::format("{:.2f} s", s.sweep_seconds));
    if (s.batch_size > 0) rows.emplace_back("batch size", std::to_string(s.batch_size));
    if (s.threads > 0) rows.emplace_back("threads", std::to_string(s.threads));
    if (s.peak_memory_mb > 0) rows.emplace_back("peak memory", fmt::format("{:.0f} MB", s.peak_memory_mb));
  }
  std::string body;
  for (const auto& [name, value] : rows) {
    body += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", text(name), text(value));
  }
  return fmt::format("<section>\n<h2>Parameters{}</h2>\n<table class=\"params\">\n<tbody>\n{}</tbody>\n</table>\n</section>\n",
                     heading, body);
}

constexpr const char* kStyle = R"(
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1f;
       max-width: 1080px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin: 1.6em 0 .5em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.subtitle { color: #555; margin-top: 0; }
figure { margin: 0; }
figcaption { color: #555; font-size: .9em; margin-top: .4em; }
.tokens { font: 17px/2.1 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; white-space: pre-wrap;
          word-break: break-word; }
.tok { border-radius: 3px; padding: 2px 0; }
.tok.target { outline: 2px dashed #444; outline-offset: 1px; }
.legend { color: #555; font-size: .9em; }
.legend .tok { font-family: ui-monospace, Menlo, Consolas, monospace; padding: 2px 6px; margin: 0 1px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 12px; text-align: right; border-bottom: 1px solid #eee; }
th { background: #f6f6f8; }
td.piece, .params td, .params th { text-align: left; }
.piece { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre; }
code { background: #f2f2f4; padding: 1px 4px; border-radius: 3px; }
.switch select { font: inherit; padding: 2px 4px; }
.hint { color: #777; font-size: .9em; margin-left: .6em; }
.stage { display: flex; align-items: stretch; gap: 8px; }
.stage img { max-width: calc(100% - 90px); height: auto; border-radius: 2px; cursor: crosshair; }
.bar { display: flex; gap: 6px; }
#bar { width: 16px; border: 1px solid #777; }
#bar-labels { display: flex; flex-direction: column; justify-content: space-between; font-size: .85em; color: #333;
              font-variant-numeric: tabular-nums; }
.caption { white-space: pre-wrap; color: #222; }
.tok.group { text-decoration: underline dotted #555; text-underline-offset: 4px; }
#tip { position: fixed; z-index: 10; pointer-events: none; background: #1b1b1f; color: #fff; padding: 4px 8px;
       border-radius: 4px; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; white-space: pre; }
)";

}  // namespace

std::string html_escape(const std::string& raw) {
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\n': out += "&#10;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string base64_encode(const std::string& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t n = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                       uint32_t(uint8_t(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string render_html_report(const std::vector<Explanation>& explanations, const cv::Mat* original_rgb,
                               const HtmlReportOptions& options) {
  if (explanations.empty()) throw std::invalid_argument("render_html_report: no explanation to show");
  const Explanation& first = explanations.front();
  std::vector<std::string> methods;
  for (const Explanation& e : explanations) methods.push_back(method_display_name(e.method));
  std::string caption = options.caption;
  if (caption.empty()) {
    const auto start = first.target.find_first_not_of(' ');
    caption = first.prompt + "\nTarget: " + (start == std::string::npos ? first.target : first.target.substr(start));
  }
  std::vector<const ExplainedUnit*> text_units;
  for (const ExplainedUnit& unit : first.units) {
    if (unit.kind != PositionKind::kImage) text_units.push_back(&unit);
  }
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += fmt::format("<title>AtMan: {} \u2192 {}</title>\n", text(first.prompt), text(first.target));
  page += fmt::format("<style>{}</style>\n</head>\n<body>\n", kStyle);
  page += fmt::format("<h1>{} explanation{}</h1>\n", text(fmt::format("{}", fmt::join(methods, ", "))),
                      explanations.size() > 1 ? "s" : "");
  page += fmt::format("<p class=\"subtitle\">Why <b>{}</b> answers "
                      "<code class=\"piece\">{}</code> with <code class=\"piece\">{}</code></p>\n",
                      text(first.model), text(first.prompt), text(first.target));
  page += html_maps_section(html_maps(explanations), original_rgb, text_units, caption, options.overlay);
  page += prompt_section(first);
  page += targets_section(first);
  for (const Explanation& e : explanations) {
    const std::string heading = explanations.size() > 1 ? " \u2014 " + text(method_display_name(e.method)) : "";
    page += top_section(e, options.top_k, heading);
    page += params_section(e, heading);
  }
  page += fmt::format("<script>{}</script>\n</body>\n</html>\n", html_maps_script());
  return page;
}

std::string render_html_report(const Explanation& explanation, const cv::Mat* original_rgb,
                               const HtmlReportOptions& options) {
  return render_html_report(std::vector<Explanation>{explanation}, original_rgb, options);
}

void write_html_report(const Explanation& explanation, const cv::Mat* original_rgb, const std::string& path,
                       const HtmlReportOptions& options) {
  write_file_atomically(path, render_html_report(explanation, original_rgb, options), "html");
}

void write_html_report(const std::vector<Explanation>& explanations, const cv::Mat* original_rgb,
                       const std::string& path, const HtmlReportOptions& options) {
  write_file_atomically(path, render_html_report(explanations, original_rgb, options), "html");
}

}  // namespace atman
