#include "atman/render/overlay.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/io/atomic_file.h"
#include "atman/io/image.h"

namespace atman {
namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
// Height in pixels of a capital letter of kFont at scale 1.
constexpr double kFontCapHeight = 22.0;
// Below this width or height there is no room for a colour bar or caption.
constexpr int kMinSideForDecorations = 48;

int opencv_colour_map(ColourMap map) {
  return map == ColourMap::kTurbo ? cv::COLORMAP_TURBO : cv::COLORMAP_VIRIDIS;
}

// 8-bit RGB copy of an 8-bit gray, RGB or RGBA image.
cv::Mat to_rgb(const cv::Mat& image) {
  if (image.empty()) throw std::invalid_argument("render_overlay: the original image is empty");
  if (image.depth() != CV_8U) {
    throw std::invalid_argument(fmt::format(
        "render_overlay: expected an 8-bit image, got depth {} with {} channels", image.depth(),
        image.channels()));
  }
  cv::Mat rgb;
  switch (image.channels()) {
    case 1: cv::cvtColor(image, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: rgb = image.clone(); break;
    case 4: cv::cvtColor(image, rgb, cv::COLOR_RGBA2RGB); break;
    default:
      throw std::invalid_argument(fmt::format(
          "render_overlay: expected 1, 3 or 4 channels, got {}", image.channels()));
  }
  return rgb;
}

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

// Darkens `rect` of `image` towards black with opacity `alpha`.
void shade(cv::Mat& image, cv::Rect rect, double alpha) {
  rect &= cv::Rect(0, 0, image.cols, image.rows);
  if (rect.empty()) return;
  cv::Mat roi = image(rect);
  roi.convertTo(roi, -1, 1.0 - alpha, 0.0);
}

void put_text(cv::Mat& image, const std::string& text, cv::Point origin, const TextStyle& style) {
  cv::putText(image, text, origin, kFont, style.scale, cv::Scalar(255, 255, 255), style.thickness,
              cv::LINE_AA);
}

std::string format_value(double value) {
  if (value == 0.0) return "0";
  return fmt::format("{:.3g}", value);
}

}  // namespace

std::string overlay_caption(const std::string& question, const std::string& answer) {
  const auto first = answer.find_first_not_of(" \t\n");
  const auto last = answer.find_last_not_of(" \t\n");
  const std::string trimmed = first == std::string::npos ? std::string() : answer.substr(first, last - first + 1);
  return "Q: " + question + "\nA: " + trimmed;
}

cv::Vec3b colour_of(double value, ColourMap map) {
  if (!std::isfinite(value)) value = 0.0;
  const int level = static_cast<int>(std::lround(std::clamp(value, 0.0, 1.0) * 255.0));
  cv::Mat gray(1, 1, CV_8UC1, cv::Scalar(level)), bgr;
  cv::applyColorMap(gray, bgr, opencv_colour_map(map));
  const cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return {c[2], c[1], c[0]};
}

cv::Mat relevance_grid(const Explanation& explanation, std::optional<int> target_index) {
  if (!explanation.image_grid) {
    throw std::invalid_argument("relevance_grid: the explanation has no image grid (text-only input)");
  }
  const auto [rows, cols] = *explanation.image_grid;
  if (rows <= 0 || cols <= 0) {
    throw std::invalid_argument(
        fmt::format("relevance_grid: expected a positive image grid, got [{}, {}]", rows, cols));
  }
  if (target_index && (*target_index < 0 ||
                       *target_index >= static_cast<int>(explanation.targets.size()))) {
    throw std::invalid_argument(fmt::format("relevance_grid: target index {} out of range [0, {})",
                                            *target_index, explanation.targets.size()));
  }
  cv::Mat grid(static_cast<int>(rows), static_cast<int>(cols), CV_64F, cv::Scalar(0.0));
  for (const ExplainedUnit& unit : explanation.units) {
    if (unit.kind != PositionKind::kImage) continue;
    if (unit.patch_row < 0 || unit.patch_row >= rows || unit.patch_col < 0 || unit.patch_col >= cols) {
      throw std::invalid_argument(fmt::format(
          "relevance_grid: patch ({}, {}) of position {} lies outside the [{}, {}] grid",
          unit.patch_row, unit.patch_col, unit.index, rows, cols));
    }
    double value = unit.relevance;
    if (target_index) {
      value = static_cast<size_t>(*target_index) < unit.per_target.size()
                  ? unit.per_target[static_cast<size_t>(*target_index)]
                  : 0.0;
    }
    grid.at<double>(static_cast<int>(unit.patch_row), static_cast<int>(unit.patch_col)) =
        std::isfinite(value) ? value : 0.0;
  }
  return grid;
}

cv::Mat normalise_relevance(const cv::Mat& grid, double* max_relevance) {
  cv::Mat values;
  grid.convertTo(values, CV_64F);
  // Non-finite and negative values count as 0.
  values.forEach<double>([](double& value, const int*) {
    if (!std::isfinite(value) || value < 0.0) value = 0.0;
  });
  double max_value = 0.0;
  cv::minMaxLoc(values, nullptr, &max_value);
  if (!std::isfinite(max_value)) max_value = 0.0;
  if (max_relevance) *max_relevance = max_value;
  cv::Mat normalised;
  if (max_value > 0.0) {
    values.convertTo(normalised, CV_32F, 1.0 / max_value);
  } else {
    normalised = cv::Mat::zeros(values.size(), CV_32F);
  }
  return normalised;
}

cv::Mat upsample_heatmap(const cv::Mat& normalised_grid, cv::Size size) {
  cv::Mat heat;
  cv::resize(normalised_grid, heat, size, 0, 0, cv::INTER_CUBIC);
  cv::min(heat, 1.0, heat);
  cv::max(heat, 0.0, heat);
  return heat;
}

cv::Mat heat_over_image(const cv::Mat& normalised_grid, cv::Size size, const ImageView& view) {
  const int view_width = std::max(1, static_cast<int>(std::lround(view.x1 - view.x0)));
  const int view_height = std::max(1, static_cast<int>(std::lround(view.y1 - view.y0)));
  const int left = static_cast<int>(std::lround(view.x0)), top = static_cast<int>(std::lround(view.y0));
  if (left == 0 && top == 0 && view_width == size.width && view_height == size.height) {
    return upsample_heatmap(normalised_grid, size);
  }
  const cv::Mat whole = upsample_heatmap(normalised_grid, cv::Size(view_width, view_height));
  cv::Mat heat = cv::Mat::zeros(size, CV_32F);  // outside the view (cropped away): no heat
  const cv::Rect shown = cv::Rect(left, top, view_width, view_height) & cv::Rect(0, 0, size.width, size.height);
  if (!shown.empty()) whole(shown - cv::Point(left, top)).copyTo(heat(shown));
  return heat;
}

namespace {

// `image` with the heat's colours over it: alpha from min to max with the heat.
cv::Mat blend_heat(const cv::Mat& image, const cv::Mat& heat, const OverlayOptions& options) {
  cv::Mat heat8, colours;
  heat.convertTo(heat8, CV_8U, 255.0);
  cv::applyColorMap(heat8, colours, opencv_colour_map(options.colour_map));
  cv::cvtColor(colours, colours, cv::COLOR_BGR2RGB);  // OpenCV's maps are BGR; all is RGB here
  const float min_alpha = static_cast<float>(std::clamp(options.min_alpha, 0.0, 1.0));
  const float max_alpha = static_cast<float>(std::clamp(options.max_alpha, 0.0, 1.0));
  cv::Mat out(image.size(), CV_8UC3);
  for (int y = 0; y < image.rows; ++y) {
    const auto* heat_row = heat.ptr<float>(y);
    const auto* image_row = image.ptr<cv::Vec3b>(y);
    const auto* colour_row = colours.ptr<cv::Vec3b>(y);
    auto* out_row = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < image.cols; ++x) {
      const float a = min_alpha + (max_alpha - min_alpha) * heat_row[x];
      for (int c = 0; c < 3; ++c) {
        out_row[x][c] = cv::saturate_cast<uchar>((1.0f - a) * image_row[x][c] + a * colour_row[x][c]);
      }
    }
  }
  return out;
}

// Sizes of the decorations, which follow the image: margins ~2.5% of the
// shorter side and text ~1/30 of the width.
struct Decoration {
  int margin = 2;
  double cap_px = 7.0;
  TextStyle text;
};

Decoration decoration_for(int width, int height) {
  Decoration d;
  d.margin = std::max(2, static_cast<int>(std::lround(std::min(width, height) * 0.025)));
  d.cap_px = std::clamp(width / 30.0, 7.0, 30.0);
  d.text = text_style_for_height(d.cap_px);
  return d;
}

// Draws the caption in a shaded strip at the bottom (at most a third of the
// height); returns the strip's top row (the height when nothing was drawn).
int draw_caption(cv::Mat& out, const std::string& caption_text, const Decoration& d) {
  const int width = out.cols, height = out.rows;
  if (caption_text.empty()) return height;
  const TextStyle& text = d.text;
  const int padding = std::max(2, text.line_height / 3);
  const int max_lines = (height / 3 - 2 * padding + (text.line_height - static_cast<int>(d.cap_px))) / text.line_height;
  const std::vector<std::string> lines = fit_caption(caption_text, width - 2 * d.margin, max_lines, text);
  if (lines.empty()) return height;
  const int strip_height =
      2 * padding + static_cast<int>(d.cap_px) + (static_cast<int>(lines.size()) - 1) * text.line_height;
  const int caption_top = height - strip_height;
  shade(out, cv::Rect(0, caption_top, width, strip_height), 0.62);
  int baseline_y = caption_top + padding + static_cast<int>(d.cap_px);
  for (const std::string& line : lines) {
    put_text(out, line, cv::Point(d.margin, baseline_y), text);
    baseline_y += text.line_height;
  }
  return caption_top;
}

// Draws the colour bar at the right, above `bottom_limit`: the maximum at the
// top, 0 at the bottom, each labelled beside the bar's end.
void draw_colour_bar(cv::Mat& out, int bottom_limit, double max_relevance, const Decoration& d,
                     const OverlayOptions& options) {
  const int bar_width = std::max(3, static_cast<int>(std::lround(out.cols * 0.035)));
  const int bar_top = d.margin;
  const int bar_bottom = bottom_limit - d.margin;  // exclusive
  const int bar_left = out.cols - d.margin - bar_width;
  if (bar_bottom - bar_top < 8 || bar_left <= 0) return;
  const int bar_height = bar_bottom - bar_top;
  cv::Mat ramp(bar_height, 1, CV_8UC1);
  for (int y = 0; y < bar_height; ++y) {
    ramp.at<uint8_t>(y, 0) =
        static_cast<uint8_t>(std::lround(255.0 * (bar_height - 1 - y) / std::max(1, bar_height - 1)));
  }
  cv::Mat ramp_colours;
  cv::applyColorMap(ramp, ramp_colours, opencv_colour_map(options.colour_map));
  cv::cvtColor(ramp_colours, ramp_colours, cv::COLOR_BGR2RGB);
  cv::resize(ramp_colours, ramp_colours, cv::Size(bar_width, bar_height), 0, 0, cv::INTER_NEAREST);
  const cv::Rect bar(bar_left, bar_top, bar_width, bar_height);
  ramp_colours.copyTo(out(bar));
  // A dark frame keeps the bar apart from the image around it.
  cv::rectangle(out, bar + cv::Size(2, 2) - cv::Point(1, 1), cv::Scalar(20, 20, 20), 1);

  const TextStyle label = text_style_for_height(std::max(6.0, d.cap_px * 0.8));
  const int label_cap = static_cast<int>(std::lround(label.scale * kFontCapHeight));
  const int pad = std::max(1, label_cap / 4);
  auto draw_label = [&](const std::string& value, int top) {
    const int label_width = text_width(value, label);
    const int x = bar_left - 2 - pad - label_width;
    shade(out, cv::Rect(x - pad, top, label_width + 2 * pad, label_cap + 2 * pad), 0.55);
    put_text(out, value, cv::Point(x, top + pad + label_cap), label);
  };
  draw_label(format_value(max_relevance), bar_top);
  draw_label("0", bar_bottom - label_cap - 2 * pad);
}

}  // namespace

cv::Mat render_overlay(const Explanation& explanation, const cv::Mat& original_rgb,
                       const std::string& caption, const OverlayOptions& options) {
  cv::Mat image = to_rgb(original_rgb);
  if (!(options.scale > 0.0) || !std::isfinite(options.scale)) {
    throw std::invalid_argument(fmt::format("render_overlay: expected a positive scale, got {}", options.scale));
  }
  if (options.scale != 1.0) {
    const cv::Size scaled(std::max(1, static_cast<int>(std::lround(image.cols * options.scale))),
                          std::max(1, static_cast<int>(std::lround(image.rows * options.scale))));
    cv::resize(image, image, scaled, 0, 0, options.scale > 1.0 ? cv::INTER_CUBIC : cv::INTER_AREA);
  }
  const int width = image.cols, height = image.rows;

  double max_relevance = 0.0;
  const cv::Mat grid = normalise_relevance(relevance_grid(explanation, options.target_index), &max_relevance);
  // The heat map covers what the model saw (docs/contract.md, "Pixels"): the
  // whole image, the central crop, or the padded square (padding cut off).
  ImageView view{0.0, 0.0, static_cast<double>(width), static_cast<double>(height)};
  if (explanation.image_config) {
    view = model_view(original_rgb.cols, original_rgb.rows, *explanation.image_config);
    const double sx = static_cast<double>(width) / original_rgb.cols, sy = static_cast<double>(height) / original_rgb.rows;
    view = {view.x0 * sx, view.y0 * sy, view.x1 * sx, view.y1 * sy};
  }
  cv::Mat out = blend_heat(image, heat_over_image(grid, image.size(), view), options);

  if (std::min(width, height) < kMinSideForDecorations) return out;
  const Decoration d = decoration_for(width, height);
  std::string caption_text = options.caption ? printable_ascii(caption) : std::string();
  if (options.caption && max_relevance <= 0.0) {
    caption_text += caption_text.empty() ? "(no positive relevance)" : "\n(no positive relevance)";
  }
  const int caption_top = draw_caption(out, caption_text, d);
  if (options.colour_bar) draw_colour_bar(out, caption_top, max_relevance, d, options);
  return out;
}

std::string render_overlay_png(const Explanation& explanation, const cv::Mat& original_rgb,
                               const std::string& caption, const OverlayOptions& options) {
  cv::Mat bgr;
  cv::cvtColor(render_overlay(explanation, original_rgb, caption, options), bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", bgr, bytes)) {
    throw std::runtime_error("render_overlay_png: OpenCV could not encode the overlay as PNG");
  }
  return std::string(bytes.begin(), bytes.end());
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
