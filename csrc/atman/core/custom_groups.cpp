#include "atman/core/custom_groups.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/core/text_offsets.h"
#include "atman/io/image.h"

namespace atman {
namespace {

using json = nlohmann::json;

// Fractions this close to 0 or 1 are 0 or 1: rectangle edges on patch edges
// meet the cells' edges up to rounding.
constexpr double kCoverageSnap = 1e-9;

std::string quoted_name(const std::string& name) { return "\"" + name + "\""; }

std::pair<int64_t, int64_t> parse_span(const json& span, const std::string& where) {
  if (!span.is_array() || span.size() != 2 || !span[0].is_number_integer() || !span[1].is_number_integer()) {
    throw std::invalid_argument(fmt::format("{}: a span must be [start, end] (two integers), got {}", where, span.dump()));
  }
  const int64_t begin = span[0].get<int64_t>(), end = span[1].get<int64_t>();
  if (begin < 0 || end <= begin) {
    throw std::invalid_argument(fmt::format("{}: span [{}, {}] needs 0 <= start < end (end exclusive)", where, begin, end));
  }
  return {begin, end};
}

std::array<double, 4> parse_rect(const json& rect, const std::string& where) {
  const bool numbers = rect.is_array() && rect.size() == 4 &&
                       std::all_of(rect.begin(), rect.end(), [](const json& v) { return v.is_number(); });
  std::array<double, 4> r{};
  if (numbers) {
    for (size_t i = 0; i < 4; ++i) r[i] = rect[i].get<double>();
  }
  if (!numbers || !(0.0 <= r[0] && r[0] < r[2] && r[2] <= 1.0 && 0.0 <= r[1] && r[1] < r[3] && r[3] <= 1.0)) {
    throw std::invalid_argument(fmt::format(
        "{}: rect must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, got {}", where, rect.dump()));
  }
  return r;
}

CustomGroup parse_group(const json& g, size_t index, const std::string& origin) {
  const std::string at = fmt::format("{}: group {}", origin, index);
  if (!g.is_object()) throw std::invalid_argument(at + " must be an object with \"name\" and \"spans\" or \"rect\"");
  if (!g.contains("name") || !g["name"].is_string() || g["name"].get<std::string>().empty()) {
    throw std::invalid_argument(at + " needs a non-empty \"name\"");
  }
  CustomGroup group;
  group.name = g["name"].get<std::string>();
  const std::string where = fmt::format("{}: group {}", origin, quoted_name(group.name));
  for (auto it = g.begin(); it != g.end(); ++it) {
    const std::string key = it.key();
    if (key != "name" && key != "spans" && key != "rect") {
      throw std::invalid_argument(fmt::format("{}: unknown key \"{}\" (name, spans, rect)", where, key));
    }
  }
  if (g.contains("spans")) {
    if (!g["spans"].is_array()) throw std::invalid_argument(where + ": \"spans\" must be a list of [start, end]");
    for (const json& span : g["spans"]) group.spans.push_back(parse_span(span, where));
  }
  if (g.contains("rect")) group.rect = parse_rect(g["rect"], where);
  if (group.spans.empty() && !group.rect) throw std::invalid_argument(where + " is empty: give spans or a rect");
  return group;
}

// The union of spans as sorted, disjoint [begin, end).
std::vector<std::pair<int64_t, int64_t>> merged(std::vector<std::pair<int64_t, int64_t>> spans) {
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& s : spans) {
    if (!out.empty() && s.first <= out.back().second) {
      out.back().second = std::max(out.back().second, s.second);
    } else {
      out.push_back(s);
    }
  }
  return out;
}

double snapped(double c) { return c < kCoverageSnap ? 0.0 : c > 1.0 - kCoverageSnap ? 1.0 : c; }

void check_no_overlap(const std::vector<CustomGroup>& groups) {
  for (size_t a = 0; a < groups.size(); ++a) {
    for (size_t b = a + 1; b < groups.size(); ++b) {
      for (const auto& [s0, e0] : groups[a].spans) {
        for (const auto& [s1, e1] : groups[b].spans) {
          if (std::max(s0, s1) < std::min(e0, e1)) {
            throw std::invalid_argument(fmt::format("groups {} and {} overlap at characters [{}, {}) of the prompt",
                                                    quoted_name(groups[a].name), quoted_name(groups[b].name), std::max(s0, s1),
                                                    std::min(e0, e1)));
          }
        }
      }
      const auto& r = groups[a].rect;
      const auto& q = groups[b].rect;
      if (r && q && std::max((*r)[0], (*q)[0]) < std::min((*r)[2], (*q)[2]) &&
          std::max((*r)[1], (*q)[1]) < std::min((*r)[3], (*q)[3])) {
        throw std::invalid_argument(fmt::format("groups {} and {} overlap: their rectangles intersect",
                                                quoted_name(groups[a].name), quoted_name(groups[b].name)));
      }
    }
  }
}

// Covered fraction of every prompt token by `spans` (characters), by position.
std::vector<std::pair<int64_t, double>> token_coverage(const std::vector<TextRange>& ranges,
                                                       const std::vector<int64_t>& char_bytes,
                                                       const std::vector<std::pair<int64_t, int64_t>>& spans) {
  auto char_at = [&](int64_t byte) {
    return static_cast<int64_t>(std::lower_bound(char_bytes.begin(), char_bytes.end(), byte) - char_bytes.begin());
  };
  std::vector<std::pair<int64_t, double>> out;
  for (size_t p = 0; p < ranges.size(); ++p) {
    const TextRange& r = ranges[p];
    if (r.begin < 0 || r.in_target) continue;
    int64_t a = char_at(r.content), b = char_at(r.end);
    if (a == b) a = char_at(r.begin);  // only whitespace: the whole token
    if (a == b) continue;
    int64_t covered = 0;
    for (const auto& [s, e] : spans) covered += std::max<int64_t>(0, std::min(b, e) - std::max(a, s));
    const double c = snapped(static_cast<double>(covered) / static_cast<double>(b - a));
    if (c > 0.0) out.emplace_back(static_cast<int64_t>(p), c);
  }
  return out;
}

// Covered fraction of every patch cell (the model's view of the original
// image split into the grid) by `rect` (0-1 coordinates of the original image).
std::vector<std::pair<int64_t, double>> patch_coverage(const Sequence& s, const std::array<double, 4>& rect, int width,
                                                       int height, const ImageConfig& config) {
  const ImageView v = model_view(width, height, config);
  const double x0 = rect[0] * width, y0 = rect[1] * height, x1 = rect[2] * width, y1 = rect[3] * height;
  const double cw = (v.x1 - v.x0) / static_cast<double>(s.grid_cols), ch = (v.y1 - v.y0) / static_cast<double>(s.grid_rows);
  std::vector<std::pair<int64_t, double>> out;
  for (int64_t r = 0; r < s.grid_rows; ++r) {
    for (int64_t c = 0; c < s.grid_cols; ++c) {
      const double cx0 = v.x0 + static_cast<double>(c) * cw, cy0 = v.y0 + static_cast<double>(r) * ch;
      const double w = std::max(0.0, std::min(x1, cx0 + cw) - std::max(x0, cx0));
      const double h = std::max(0.0, std::min(y1, cy0 + ch) - std::max(y0, cy0));
      const double covered = snapped(w / cw) * snapped(h / ch);
      if (covered > 0.0) out.emplace_back(s.image_begin + r * s.grid_cols + c, covered);
    }
  }
  return out;
}

}  // namespace

std::vector<CustomGroup> parse_custom_groups(const std::string& json_text, const std::string& origin) {
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(fmt::format("{}: not valid JSON ({})", origin, e.what()));
  }
  if (!doc.is_object() || !doc.contains("groups") || !doc["groups"].is_array() || doc["groups"].empty()) {
    throw std::invalid_argument(
        fmt::format("{}: expected {{\"groups\": [{{\"name\": ..., \"spans\": [[start, end], ...]}}, ...]}} with at "
                    "least one group",
                    origin));
  }
  std::vector<CustomGroup> groups;
  std::set<std::string> names;
  for (size_t i = 0; i < doc["groups"].size(); ++i) {
    groups.push_back(parse_group(doc["groups"][i], i, origin));
    if (!names.insert(groups.back().name).second) {
      throw std::invalid_argument(fmt::format("{}: group name {} is used twice", origin, quoted_name(groups.back().name)));
    }
  }
  return groups;
}

std::vector<CustomGroup> read_custom_groups(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read the groups file", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_custom_groups(text.str(), path);
}

ExplainedUnits custom_units(const Sequence& sequence, const std::vector<CustomGroup>& groups, TokenOverlap overlap,
                            const Tokenizer& tokenizer, int image_width, int image_height,
                            const std::optional<ImageConfig>& image_config) {
  const std::vector<int64_t> char_bytes = character_byte_offsets(sequence.prompt);
  const int64_t chars = static_cast<int64_t>(char_bytes.size()) - 1;
  for (const CustomGroup& g : groups) {
    if (g.spans.empty() && !g.rect) throw std::invalid_argument(fmt::format("group {} is empty: give spans or a rect", quoted_name(g.name)));
    for (const auto& [b, e] : g.spans) {
      if (b < 0 || e <= b || e > chars) {
        throw std::invalid_argument(fmt::format("group {}: span [{}, {}) lies outside the prompt's {} characters",
                                                quoted_name(g.name), b, e, chars));
      }
    }
    if (g.rect && (sequence.image_positions == 0 || !image_config)) {
      throw std::invalid_argument(fmt::format("group {} has a rect but there is no image", quoted_name(g.name)));
    }
  }
  check_no_overlap(groups);
  const std::vector<TextRange> ranges = text_ranges(sequence, tokenizer);
  std::vector<std::pair<std::vector<std::pair<int64_t, double>>, const CustomGroup*>> resolved;
  for (const CustomGroup& g : groups) {
    std::vector<std::pair<int64_t, double>> members = token_coverage(ranges, char_bytes, merged(g.spans));
    if (g.rect) {
      const bool sized = image_width > 0 && image_height > 0;  // else the model's input size
      const auto patches = patch_coverage(sequence, *g.rect, sized ? image_width : static_cast<int>(image_config->width),
                                          sized ? image_height : static_cast<int>(image_config->height), *image_config);
      members.insert(members.end(), patches.begin(), patches.end());
    }
    if (members.empty()) {
      throw std::invalid_argument(fmt::format("group {} covers no token or patch of the input", quoted_name(g.name)));
    }
    std::sort(members.begin(), members.end());
    resolved.emplace_back(std::move(members), &g);
  }
  std::stable_sort(resolved.begin(), resolved.end(),
                   [](const auto& a, const auto& b) { return a.first.front().first < b.first.front().first; });
  ExplainedUnits units;
  for (const auto& [members, g] : resolved) {
    std::vector<int64_t> positions;
    UnitLabel label;
    label.name = g->name;
    for (const auto& [p, c] : members) {
      positions.push_back(p);
      label.coverage.push_back(c);
    }
    units.groups.push_back(std::move(positions));
    if (overlap == TokenOverlap::kPartial) units.weights.push_back(label.coverage);
    units.labels.push_back(std::move(label));
  }
  return units;
}

}  // namespace atman
