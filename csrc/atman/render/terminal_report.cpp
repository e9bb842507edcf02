#include "atman/render/terminal_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include <fmt/format.h>
#include <utf8.h>

#include "atman/core/explanation.h"
#include "atman/core/names.h"
#include "atman/methods/baselines.h"
#include "atman/render/safe_text.h"
#include "atman/render/overlay.h"

namespace atman {
namespace {

constexpr int kMaxGridColumns = 64;
constexpr const char* kReset = "\x1b[0m";


// Index of the xterm 256-colour palette entry nearest to `rgb` (the 6x6x6
// cube or the 24-step gray ramp).
int xterm_256(const cv::Vec3b& rgb) {
  static constexpr int kLevels[6] = {0, 95, 135, 175, 215, 255};
  auto nearest_level = [](int value) {
    int best = 0;
    for (int i = 1; i < 6; ++i) {
      if (std::abs(kLevels[i] - value) < std::abs(kLevels[best] - value)) best = i;
    }
    return best;
  };
  auto distance = [&](int r, int g, int b) {
    return (r - rgb[0]) * (r - rgb[0]) + (g - rgb[1]) * (g - rgb[1]) + (b - rgb[2]) * (b - rgb[2]);
  };
  const int r = nearest_level(rgb[0]), g = nearest_level(rgb[1]), b = nearest_level(rgb[2]);
  const int cube_distance = distance(kLevels[r], kLevels[g], kLevels[b]);
  const int mean = (rgb[0] + rgb[1] + rgb[2]) / 3;
  const int gray = std::clamp((mean - 8 + 5) / 10, 0, 23);
  const int gray_value = 8 + 10 * gray;
  if (distance(gray_value, gray_value, gray_value) < cube_distance) return 232 + gray;
  return 16 + 36 * r + 6 * g + b;
}

// Escape sequence setting the background to `rgb` and a readable foreground.
std::string paint(const cv::Vec3b& rgb, TerminalColour colour) {
  const double luminance = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2];
  const char* foreground = luminance > 140.0 ? "30" : "97";
  if (colour == TerminalColour::kTrueColour) {
    return fmt::format("\x1b[{};48;2;{};{};{}m", foreground, rgb[0], rgb[1], rgb[2]);
  }
  return fmt::format("\x1b[{};48;5;{}m", foreground, xterm_256(rgb));
}

std::string unit_label(const Explanation& explanation, const ExplainedUnit& unit) {
  if (unit.kind == PositionKind::kImage) {
    const auto [rows, cols] = explanation.image_grid.value_or(std::make_pair<int64_t, int64_t>(1, 1));
    return image_unit_label(unit, rows, cols);
  }
  const std::string quoted = "\"" + without_controls(display_piece(unit.piece), false) + "\"";
  return unit.name.empty() ? quoted : "group \"" + without_controls(unit.name, false) + "\": " + quoted;
}

std::string position_text(const ExplainedUnit& unit) {
  if (unit.members.size() <= 1) return std::to_string(unit.index);
  const auto [low, high] = std::minmax_element(unit.members.begin(), unit.members.end());
  if (*high - *low + 1 == static_cast<int64_t>(unit.members.size())) return fmt::format("{}-{}", *low, *high);
  return fmt::format("{}+{}", unit.index, unit.members.size() - 1);
}

std::string prompt_block(const Explanation& explanation, TerminalColour colour) {
  const double scale = text_relevance_scale(explanation);
  std::string line;
  for (const ExplainedUnit& unit : explanation.units) {
    if (unit.kind == PositionKind::kImage) continue;
    const std::string piece = without_controls(display_piece(unit.piece), true);
    if (colour == TerminalColour::kNone) {
      const bool strong = scale > 0.0 && std::isfinite(unit.relevance) && unit.relevance >= 0.5 * scale;
      if (strong) {
        // The bracket goes after a leading space so that words stay apart.
        const size_t lead = piece.find_first_not_of(' ');
        const size_t cut = lead == std::string::npos ? 0 : lead;
        line += piece.substr(0, cut) + "[" + piece.substr(cut) + "]";
      } else {
        line += piece;
      }
    } else {
      line += paint(text_background_rgb(unit.relevance, scale), colour) + piece + kReset;
    }
  }
  if (line.empty()) return {};
  std::string block = colour == TerminalColour::kNone
                          ? "Prompt ([x]: at least half of the largest relevance):\n"
                          : "Prompt (red: supports the target, blue: works against it):\n";
  return block + "  " + line + "\n";
}

std::string grid_block(const Explanation& explanation, TerminalColour colour) {
  if (!explanation.image_grid) return {};
  const auto [rows, cols] = *explanation.image_grid;
  if (rows <= 0 || cols <= 0 || cols > kMaxGridColumns) return {};
  const OverlayOptions overlay;  // the overlay's scale: same colour map, same clipping
  const cv::Mat raw = relevance_grid(explanation);
  const HeatScale scale = overlay_heat_scale(explanation, overlay);
  const cv::Mat grid = normalise_relevance(raw, scale);
  static constexpr char kRamp[] = " .:-=+*#%@";
  std::string block = fmt::format("Image patches ({} x {}, {}; top of the scale: the {:g}th percentile):\n", rows, cols,
                                  colour == TerminalColour::kNone || !scale.diverging
                                      ? fmt::format("0 .. {:.4g}, negatives as 0", scale.scale)
                                      : fmt::format("blue {:.4g} .. red {:.4g}", -scale.scale, scale.scale),
                                  overlay.clip_percentile);
  const std::string frame = colour == TerminalColour::kNone ? "  +" + std::string(2 * cols, '-') + "+\n" : "";
  block += frame;
  for (int r = 0; r < grid.rows; ++r) {
    block += colour == TerminalColour::kNone ? "  |" : "  ";
    for (int c = 0; c < grid.cols; ++c) {
      const float v = grid.at<float>(r, c);
      if (colour == TerminalColour::kNone) {
        const char ch = kRamp[std::clamp(static_cast<int>(std::lround(std::max(v, 0.0f) * 9.0f)), 0, 9)];
        block += ch;
        block += ch;
      } else {
        block += paint(colour_of(scale.diverging ? (v + 1.0) / 2.0 : v, scale.map), colour) + "  ";
      }
    }
    block += colour == TerminalColour::kNone ? "|\n" : std::string(kReset) + "\n";
  }
  return block + frame;
}

std::string table_block(const Explanation& explanation, int top_k) {
  const std::vector<size_t> order = units_by_relevance(explanation, top_k);

  struct Row {
    std::string rank, position, kind, unit, relevance;
  };
  std::vector<Row> rows;
  rows.push_back({"rank", "position", "kind", "unit", "relevance"});
  for (size_t i = 0; i < order.size(); ++i) {
    const ExplainedUnit& unit = explanation.units[order[i]];
    rows.push_back({std::to_string(i + 1), position_text(unit), position_kind_name(unit.kind), unit_label(explanation, unit),
                    std::isfinite(unit.relevance) ? fmt::format("{:.4f}", unit.relevance) : "n/a"});
  }
  // Column widths in code points (pieces may hold non-ASCII letters).
  auto width = [](const std::string& s) { return static_cast<size_t>(utf8::distance(s.begin(), s.end())); };
  size_t w[5] = {0, 0, 0, 0, 0};
  for (const Row& row : rows) {
    w[0] = std::max(w[0], width(row.rank));
    w[1] = std::max(w[1], width(row.position));
    w[2] = std::max(w[2], width(row.kind));
    w[3] = std::max(w[3], width(row.unit));
    w[4] = std::max(w[4], width(row.relevance));
  }
  auto pad = [&](const std::string& s, size_t to, bool right) {
    const std::string fill(to - std::min(to, width(s)), ' ');
    return right ? fill + s : s + fill;
  };
  const std::string meaning =
      explanation.method == "atman" ? "CE suppressed - CE clean" : method_display_name(explanation.method);
  std::string block = fmt::format("Top {} of {} units by relevance ({}):\n", order.size(),
                                  explanation.units.size(), meaning);
  for (const Row& row : rows) {
    block += "  " + pad(row.rank, w[0], true) + "  " + pad(row.position, w[1], true) + "  " +
             pad(row.kind, w[2], false) + "  " + pad(row.unit, w[3], false) + "  " +
             pad(row.relevance, w[4], true) + "\n";
  }
  return block;
}

}  // namespace

std::string format_terminal_summary(const Explanation& explanation, TerminalColour colour, int top_k) {
  std::string out = fmt::format("{}: target \"{}\"", without_controls(explanation.model, false),
                                without_controls(explanation.target, false));
  if (explanation.targets.size() == 1) {
    const TargetToken& target = explanation.targets.front();
    out += fmt::format(", clean CE {:.4f} (p {:.3f})", target.ce, std::exp(-target.ce));
  } else if (!explanation.targets.empty()) {
    out += fmt::format(", {} tokens, clean CE", explanation.targets.size());
    for (const TargetToken& target : explanation.targets) {
      out += fmt::format(" \"{}\" {:.4f}", without_controls(display_piece(target.piece), false), target.ce);
    }
  }
  out += "\n";
  const std::string prompt = prompt_block(explanation, colour);
  const std::string grid = grid_block(explanation, colour);
  for (const std::string* block : {&prompt, &grid}) {
    if (!block->empty()) out += "\n" + *block;
  }
  out += "\n" + table_block(explanation, top_k);
  return out;
}

std::string format_terminal_summary(const Explanation& explanation, bool ansi_colour, int top_k) {
  return format_terminal_summary(explanation, ansi_colour ? TerminalColour::kAnsi256 : TerminalColour::kNone,
                                 top_k);
}

}  // namespace atman
