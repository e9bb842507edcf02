#include "atman/render/overlay.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/base/text.h"
#include "atman/io/atomic_file.h"
#include "atman/io/image.h"

namespace atman {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
// Height in pixels of a capital letter of kFont at scale 1.
constexpr double kFontCapHeight = 22.0;
// Below this width or height there is no room for a colour bar or caption.
constexpr int kMinSideForDecorations = 48;

// Hershey fonts draw ASCII only: control characters become spaces, every
// other non-ASCII code point one '?'.
std::string printable_ascii(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\n') out += '\n';
    else if (c < 0x20 || c == 0x7f) out += ' ';
    else if (c < 0x80) out += static_cast<char>(c);
    else if (c >= 0xc0) out += '?';  // lead byte of a multi-byte sequence; continuation bytes dropped
  }
  return out;
}

struct TextStyle {
  double scale = 0.5;
  int thickness = 1;
  int line_height = 12;  // baseline to baseline, pixels
};

TextStyle text_style_for_height(double cap_height_px) {
  TextStyle style;
  style.scale = cap_height_px / kFontCapHeight;
  style.thickness = cap_height_px >= 18 ? 2 : 1;
  style.line_height = static_cast<int>(std::lround(cap_height_px * 1.75));
  return style;
}

int text_width(const std::string& text, const TextStyle& style) {
  int baseline = 0;
  return cv::getTextSize(text, kFont, style.scale, style.thickness, &baseline).width;
}

// Greedy word wrap of one paragraph to `width` pixels; words wider than a
// line are cut.
std::vector<std::string> wrap_paragraph(const std::string& paragraph, int width, const TextStyle& style) {
  std::vector<std::string> lines;
  std::string line;
  size_t i = 0;
  while (i < paragraph.size()) {
    if (paragraph[i] == ' ') {
      ++i;
      continue;
    }
    size_t j = paragraph.find(' ', i);
    if (j == std::string::npos) j = paragraph.size();
    const std::string word = paragraph.substr(i, j - i);
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (text_width(candidate, style) <= width) {
      line = candidate;
      i = j;
    } else if (!line.empty()) {
      lines.push_back(line);  // the word goes on a fresh line
      line.clear();
    } else {
      size_t fit = 1;
      while (fit < word.size() && text_width(word.substr(0, fit + 1), style) <= width) ++fit;
      lines.push_back(word.substr(0, fit));
      i += fit;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

// Wraps each '\n'-separated paragraph and fits the result into `max_lines`:
// the earliest paragraph longer than one line is shortened first (its last
// kept line ends in "..."), then the earliest paragraphs are dropped. So with
// "Q: question\nA: answer" the answer stays readable when space runs out.
std::vector<std::string> fit_caption(const std::string& text, int width, int max_lines,
                                     const TextStyle& style) {
  std::vector<std::vector<std::string>> paragraphs;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    auto lines = wrap_paragraph(text.substr(start, end - start), width, style);
    if (!lines.empty()) paragraphs.push_back(std::move(lines));
    start = end + 1;
  }
  auto count = [&] {
    size_t n = 0;
    for (const auto& p : paragraphs) n += p.size();
    return n;
  };
  const size_t limit = static_cast<size_t>(std::max(0, max_lines));
  for (auto& paragraph : paragraphs) {
    if (count() <= limit) break;
    const size_t excess = count() - limit;
    if (paragraph.size() <= 1) continue;
    const size_t keep = paragraph.size() > excess ? paragraph.size() - excess : 1;
    if (keep < paragraph.size()) {
      paragraph.resize(keep);
      std::string& last = paragraph.back();
      while (!last.empty() && text_width(last + "...", style) > width) last.pop_back();
      last += "...";
    }
  }
  while (count() > limit && !paragraphs.empty()) paragraphs.erase(paragraphs.begin());
  std::vector<std::string> lines;
  for (const auto& p : paragraphs) lines.insert(lines.end(), p.begin(), p.end());
  return lines;
}

void put_text(cv::Mat& image, const std::string& text, cv::Point origin, const TextStyle& style) {
  cv::putText(image, text, origin, kFont, style.scale, cv::Scalar(25, 25, 25), style.thickness, cv::LINE_AA);
}

std::string format_value(double value) {
  if (value == 0.0) return "0";
  return fmt::format("{:.3g}", value);
}

// Sizes of the decorations, which follow the image: margins ~2.5% of the
// shorter side and text ~1/40 of the width (at least 9 px: the strips lie
// outside the image, so small images still get readable labels).
struct Decoration {
  int margin = 3;
  double cap_px = 9.0;
  TextStyle text;
};

Decoration decoration_for(int width, int height) {
  Decoration d;
  d.margin = std::max(3, static_cast<int>(std::lround(std::min(width, height) * 0.025)));
  d.cap_px = std::clamp(width / 40.0, 9.0, 24.0);
  d.text = text_style_for_height(d.cap_px);
  return d;
}

int bar_strip_width(const HeatScale& scale, const Decoration& d, int image_width) {
  const int bar_width = std::max(8, static_cast<int>(std::lround(image_width * 0.035)));
  int label_width = 0;
  for (const auto& [label, at] : colour_bar_labels(scale)) label_width = std::max(label_width, text_width(label, d.text));
  return 2 * d.margin + bar_width + d.margin + label_width;
}

// The colour bar in the strip right of the image (x from `left`), as tall as
// the image: the top of the scale at the top, each label beside its level.
void draw_colour_bar(cv::Mat& canvas, int left, int image_height, const HeatScale& scale, const Decoration& d,
                     int image_width) {
  const int bar_width = std::max(8, static_cast<int>(std::lround(image_width * 0.035)));
  const int bar_left = left + d.margin, bar_top = d.margin, bar_height = image_height - 2 * d.margin;
  if (bar_height < 8) return;
  cv::Mat ramp(bar_height, 1, CV_8UC1);
  for (int y = 0; y < bar_height; ++y) {
    ramp.at<uint8_t>(y, 0) = static_cast<uint8_t>(std::lround(255.0 * (bar_height - 1 - y) / std::max(1, bar_height - 1)));
  }
  cv::Mat colours;
  cv::resize(apply_colour_map(ramp, scale.map), colours, cv::Size(bar_width, bar_height), 0, 0, cv::INTER_NEAREST);
  const cv::Rect bar(bar_left, bar_top, bar_width, bar_height);
  colours.copyTo(canvas(bar));
  cv::rectangle(canvas, bar + cv::Size(2, 2) - cv::Point(1, 1), cv::Scalar(90, 90, 90), 1);
  const int cap = static_cast<int>(d.cap_px);
  for (const auto& [label, at] : colour_bar_labels(scale)) {
    const int baseline = std::clamp(bar_top + static_cast<int>(std::lround(at * (bar_height - 1))) + cap / 2, bar_top + cap,
                                    bar_top + bar_height);
    put_text(canvas, label, cv::Point(bar_left + bar_width + d.margin, baseline), d.text);
  }
}

// The caption's lines for a strip `width` wide (at most half the image's height in lines, at least 3).
std::vector<std::string> caption_lines(const std::string& caption_text, int width, int image_height,
                                       const Decoration& d) {
  if (caption_text.empty()) return {};
  const int max_lines = std::max(3, image_height / 2 / d.text.line_height);
  return fit_caption(caption_text, width - 2 * d.margin, max_lines, d.text);
}

int caption_height(const std::vector<std::string>& lines, const Decoration& d) {
  if (lines.empty()) return 0;
  return 2 * d.margin + static_cast<int>(d.cap_px) + (static_cast<int>(lines.size()) - 1) * d.text.line_height;
}

void draw_caption(cv::Mat& canvas, int top, const std::vector<std::string>& lines, const Decoration& d) {
  int baseline_y = top + d.margin + static_cast<int>(d.cap_px);
  for (const std::string& line : lines) {
    put_text(canvas, line, cv::Point(d.margin, baseline_y), d.text);
    baseline_y += d.text.line_height;
  }
}

// Lightens the edges between patches of different units (and the view's
// outline) halfway to white: the patch grid, or the tiles when units span several patches.
void draw_unit_borders(cv::Mat& image, const cv::Mat& units, const ImageView& view) {
  const int rows = units.rows, cols = units.cols;
  auto x_at = [&](int c) { return static_cast<int>(std::lround(view.x0 + (view.x1 - view.x0) * c / cols)); };
  auto y_at = [&](int r) { return static_cast<int>(std::lround(view.y0 + (view.y1 - view.y0) * r / rows)); };
  cv::Mat mask = cv::Mat::zeros(image.size(), CV_8U);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const int id = units.at<int>(r, c);
      const int x0 = x_at(c), x1 = x_at(c + 1) - 1, y0 = y_at(r), y1 = y_at(r + 1) - 1;
      if (c == 0 || units.at<int>(r, c - 1) != id) cv::line(mask, {x0, y0}, {x0, y1}, 255);
      if (r == 0 || units.at<int>(r - 1, c) != id) cv::line(mask, {x0, y0}, {x1, y0}, 255);
      if (c == cols - 1) cv::line(mask, {x1, y0}, {x1, y1}, 255);
      if (r == rows - 1) cv::line(mask, {x0, y1}, {x1, y1}, 255);
    }
  }
  cv::Mat lighter;
  image.convertTo(lighter, -1, 0.5, 127.5);
  lighter.copyTo(image, mask);
}

}  // namespace

std::vector<std::pair<std::string, double>> colour_bar_labels(const HeatScale& scale) {
  if (!scale.diverging) return {{format_value(scale.scale), 0.0}, {"0", 1.0}};
  return {{"+" + format_value(scale.scale), 0.0}, {"0", 0.5}, {"-" + format_value(scale.scale), 1.0}};
}

std::string overlay_caption(const std::string& question, const std::string& answer) {
  return "Q: " + question + "\nA: " + trimmed(answer, " \t\n");
}

cv::Mat to_rgb(const cv::Mat& image) {
  if (image.empty()) throw std::invalid_argument("render_overlay: the original image is empty");
  if (image.depth() != CV_8U) {
    throw std::invalid_argument(fmt::format("render_overlay: expected an 8-bit image, got depth {} with {} channels",
                                            image.depth(), image.channels()));
  }
  cv::Mat rgb;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: rgb = image.clone(); break;
    case 4: cv::cvtColor(image, rgb, cv::COLOR_RGBA2RGB); break;
    default:
      throw std::invalid_argument(fmt::format("render_overlay: expected 1, 3 or 4 channels, got {}", image.channels()));
  }
  return rgb;
}

void check_overlay_options(const OverlayOptions& options) {
  if (!(options.alpha >= 0.0 && options.alpha <= 1.0)) {
    throw std::invalid_argument(fmt::format("overlay: alpha must lie in [0, 1], got {}", options.alpha));
  }
  if (!(options.clip_percentile > 0.0 && options.clip_percentile <= 100.0)) {
    throw std::invalid_argument(
        fmt::format("overlay: the clip percentile must lie in (0, 100], got {}", options.clip_percentile));
  }
  if (!(options.scale > 0.0) || !std::isfinite(options.scale)) {
    throw std::invalid_argument(fmt::format("render_overlay: expected a positive scale, got {}", options.scale));
  }
}

HeatScale overlay_heat_scale(const Explanation& explanation, const OverlayOptions& options) {
  return heat_scale(relevance_grid(explanation, options.target_index), options.colour_map, options.clip_percentile,
                    options.contrastive || explanation.contrast.has_value());
}

cv::Mat blend_overlay(const Explanation& explanation, const cv::Mat& image_rgb, cv::Size original_size,
                      const HeatScale& scale, const OverlayOptions& options) {
  const cv::Mat grid = normalise_relevance(relevance_grid(explanation, options.target_index), scale);
  // The heat covers what the model saw (docs/contract.md, "Pixels"): the
  // whole image, the central crop, or the padded square (padding cut off).
  const ImageView view = shown_model_view(explanation, original_size, image_rgb.size());
  const cv::Mat heat = heat_over_image(grid, image_rgb.size(), view);
  cv::Mat levels(heat.size(), CV_8UC1);
  cv::Mat opacity(heat.size(), CV_32F);
  for (int y = 0; y < heat.rows; ++y) {
    for (int x = 0; x < heat.cols; ++x) {
      const float v = scale.diverging ? heat.at<float>(y, x) : std::max(0.0f, heat.at<float>(y, x));
      const double position = scale.diverging ? (v + 1.0) / 2.0 : v;
      levels.at<uint8_t>(y, x) = static_cast<uint8_t>(std::lround(position * 255.0));
      opacity.at<float>(y, x) = static_cast<float>(options.alpha) * std::abs(v);
    }
  }
  const cv::Mat colours = apply_colour_map(levels, scale.map);
  cv::Mat out(image_rgb.size(), CV_8UC3);
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      const float a = opacity.at<float>(y, x);
      const cv::Vec3b& pixel = image_rgb.at<cv::Vec3b>(y, x);
      const cv::Vec3b& colour = colours.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c) out.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uchar>((1.0f - a) * pixel[c] + a * colour[c]);
    }
  }
  if (options.patch_borders) draw_unit_borders(out, border_grid(explanation), view);
  return out;
}

cv::Mat render_overlay(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const OverlayOptions& options) {
  cv::Mat image = to_rgb(original_rgb);
  check_overlay_options(options);
  if (options.scale != 1.0) {
    const cv::Size scaled(std::max(1, static_cast<int>(std::lround(image.cols * options.scale))),
                          std::max(1, static_cast<int>(std::lround(image.rows * options.scale))));
    cv::resize(image, image, scaled, 0, 0, options.scale > 1.0 ? cv::INTER_CUBIC : cv::INTER_AREA);
  }
  const HeatScale scale = overlay_heat_scale(explanation, options);
  const cv::Mat blended = blend_overlay(explanation, image, original_rgb.size(), scale, options);
  const int width = image.cols, height = image.rows;
  if (std::min(width, height) < kMinSideForDecorations) return blended;

  const Decoration d = decoration_for(width, height);
  const int strip = options.colour_bar ? bar_strip_width(scale, d, width) : 0;
  std::string caption_text = options.caption ? printable_ascii(caption) : std::string();
  if (options.caption && !(scale.scale > 0.0)) {
    const char* note = scale.diverging ? "(all relevance is 0)" : "(no positive relevance)";
    caption_text += caption_text.empty() ? note : std::string("\n") + note;
  }
  const std::vector<std::string> lines = caption_lines(caption_text, width + strip, height, d);
  cv::Mat canvas(height + caption_height(lines, d), width + strip, CV_8UC3, cv::Scalar(255, 255, 255));
  blended.copyTo(canvas(cv::Rect(0, 0, width, height)));
  if (options.colour_bar) draw_colour_bar(canvas, width, height, scale, d, width);
  draw_caption(canvas, height, lines, d);
  return canvas;
}

std::string encode_png(const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", bgr, bytes)) throw std::runtime_error("encode_png: OpenCV could not encode the image as PNG");
  return std::string(bytes.begin(), bytes.end());
}

std::string render_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                               const std::string& caption, const OverlayOptions& options) {
  return encode_png(render_overlay(explanation, original_rgb, caption, options));
}

void write_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const std::string& path,
                       const OverlayOptions& options) {
  write_file_atomically(path, render_overlay_png(explanation, original_rgb, caption, options), "overlay");
}

}  // namespace atman

namespace atman {

double text_relevance_scale(const Explanation& explanation, std::optional<int> target_index) {
  double scale = 0.0;
  for (const ExplainedUnit& unit : explanation.units) {
    if (unit.kind == PositionKind::kImage) continue;
    double value = unit.relevance;
    if (target_index) {
      const auto t = static_cast<size_t>(*target_index);
      value = t < unit.per_target.size() ? unit.per_target[t] : 0.0;
    }
    if (std::isfinite(value)) scale = std::max(scale, std::abs(value));
  }
  return scale;
}

cv::Vec3b text_background_rgb(double relevance, double scale) {
  if (!(scale > 0.0) || !std::isfinite(relevance)) return {255, 255, 255};
  const double strength = std::clamp(std::abs(relevance) / scale, 0.0, 1.0);
  // Ends of the scale: a warm red and a clear blue, both dark enough for white text.
  const cv::Vec3d end = relevance >= 0.0 ? cv::Vec3d(214, 39, 40) : cv::Vec3d(31, 100, 190);
  cv::Vec3b colour;
  for (int c = 0; c < 3; ++c) {
    colour[c] = cv::saturate_cast<uchar>(255.0 + (end[c] - 255.0) * strength);
  }
  return colour;
}

std::string display_piece(const std::string& piece) {
  static const std::string kWordBoundary = "\u2581";
  std::string out;
  for (size_t i = 0; i < piece.size();) {
    if (piece.compare(i, kWordBoundary.size(), kWordBoundary) == 0) {
      out += ' ';
      i += kWordBoundary.size();
    } else {
      out += piece[i++];
    }
  }
  return out;
}

}  // namespace atman
