#include "atman/render/html_maps.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "atman/core/names.h"
#include "atman/methods/registry.h"
#include "atman/render/heat_map.h"
#include "atman/render/html_report.h"
#include "atman/render/safe_text.h"

namespace atman {
namespace {

using json = nlohmann::ordered_json;

// Long side of the shown image: small images are enlarged to at least
// kMinDisplaySide (by a whole factor, so patches stay crisp), big ones shrunk
// to at most kMaxDisplaySide.
constexpr double kMinDisplaySide = 480.0;
constexpr double kMaxDisplaySide = 1024.0;

std::string text(const std::string& raw) { return html_escape(without_controls(raw, true)); }

std::string hex_colour(const cv::Vec3b& rgb) { return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]); }

const char* text_colour_on(const cv::Vec3b& background) {
  const double luminance = 0.2126 * background[0] + 0.7152 * background[1] + 0.0722 * background[2];
  return luminance > 140.0 ? "#111" : "#fff";
}

double value_of(const ExplainedUnit& unit, std::optional<int> target) {
  if (!target) return unit.relevance;
  const auto t = static_cast<size_t>(*target);
  return t < unit.per_target.size() ? unit.per_target[t] : NAN;
}

json number_or_null(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

std::string text_unit_label(const ExplainedUnit& unit) {
  std::string positions = std::to_string(unit.index);
  if (unit.members.size() > 1) {
    const auto [low, high] = std::minmax_element(unit.members.begin(), unit.members.end());
    positions = static_cast<int64_t>(unit.members.size()) == *high - *low + 1
                    ? fmt::format("{}\u2013{}", *low, *high)
                    : fmt::format("{} and {} more", unit.index, unit.members.size() - 1);
  }
  const std::string group = unit.name.empty() ? "" : fmt::format("group \u201c{}\u201d: ", without_controls(unit.name, false));
  return fmt::format("{}{} \u201c{}\u201d (position{} {})", group, position_kind_name(unit.kind),
                     without_controls(display_piece(unit.piece), false), unit.members.size() > 1 ? "s" : "",
                     positions);
}

// The image shown on the page (the original, or a gray canvas of the grid's
// shape when the original is not at hand) and its display size.
struct Stage {
  cv::Mat original, shown;
  bool canvas = false;
};

Stage make_stage(const Explanation& e, const cv::Mat* original_rgb) {
  Stage stage;
  if (original_rgb && !original_rgb->empty()) {
    stage.original = to_rgb(*original_rgb);
  } else {
    const auto [rows, cols] = *e.image_grid;
    const int cell = std::max(1, static_cast<int>(std::lround(kMinDisplaySide / std::max(rows, cols))));
    stage.original = cv::Mat(static_cast<int>(rows) * cell, static_cast<int>(cols) * cell, CV_8UC3, cv::Scalar(128, 128, 128));
    stage.canvas = true;
  }
  const double long_side = std::max(stage.original.cols, stage.original.rows);
  const double scale = long_side < kMinDisplaySide   ? std::ceil(kMinDisplaySide / long_side)
                       : long_side > kMaxDisplaySide ? kMaxDisplaySide / long_side
                                                     : 1.0;
  const cv::Size size(std::max(1, static_cast<int>(std::lround(stage.original.cols * scale))),
                      std::max(1, static_cast<int>(std::lround(stage.original.rows * scale))));
  cv::resize(stage.original, stage.shown, size, 0, 0, scale > 1.0 ? cv::INTER_CUBIC : cv::INTER_AREA);
  return stage;
}

std::string colour_bar_css(const HeatScale& scale) {
  std::string stops;
  for (int i = 0; i <= 10; ++i) {
    stops += fmt::format(",{} {}%", hex_colour(colour_of(i / 10.0, scale.map)), i * 10);
  }
  return "linear-gradient(to top" + stops + ")";
}

// A map's image part: its overlay, colour bar, and every image unit.
void add_image_data(json& entry, const HtmlMap& map, const Stage& stage, const OverlayOptions& base) {
  const Explanation& e = *map.explanation;
  OverlayOptions options = base;
  options.target_index = map.target_index;
  const HeatScale scale = overlay_heat_scale(e, options);
  entry["png"] = "data:image/png;base64," +
                 base64_encode(encode_png(blend_overlay(e, stage.shown, stage.original.size(), scale, options)));
  entry["bar"] = colour_bar_css(scale);
  json labels = json::array();
  for (const auto& [label, at] : colour_bar_labels(scale)) labels.push_back(label);
  entry["bar_labels"] = labels;
  const cv::Mat ids = unit_grid(e);
  std::map<int, int> image_slot;  // index into e.units -> index into entry["units"]
  json units = json::array();
  for (size_t i = 0; i < e.units.size(); ++i) {
    const ExplainedUnit& unit = e.units[i];
    if (unit.kind != PositionKind::kImage) continue;
    image_slot[static_cast<int>(i)] = static_cast<int>(units.size());
    units.push_back({{"index", unit.index},
                     {"label", image_unit_label(unit, e.image_grid->first, e.image_grid->second)},
                     {"cell", {unit.patch_row, unit.patch_col}},
                     {"value", number_or_null(value_of(unit, map.target_index))}});
  }
  json cells = json::array();
  for (auto it = ids.begin<int>(); it != ids.end<int>(); ++it) cells.push_back(*it < 0 ? -1 : image_slot[*it]);
  entry["units"] = std::move(units);
  entry["cells"] = std::move(cells);
}

// A map's text part: per shown token (matched by sequence index) its value and colours.
void add_text_data(json& entry, const HtmlMap& map, const std::vector<const ExplainedUnit*>& text_units) {
  const Explanation& e = *map.explanation;
  const double scale = text_relevance_scale(e, map.target_index);
  std::map<int64_t, const ExplainedUnit*> by_index;
  for (const ExplainedUnit& unit : e.units) by_index[unit.index] = &unit;
  json tokens = json::array();
  for (const ExplainedUnit* shown : text_units) {
    const auto found = by_index.find(shown->index);
    const ExplainedUnit* unit = found == by_index.end() ? nullptr : found->second;
    const double value = unit ? value_of(*unit, map.target_index) : NAN;
    const cv::Vec3b background = text_background_rgb(value, scale);
    tokens.push_back({{"label", text_unit_label(unit ? *unit : *shown)},
                      {"value", number_or_null(value)},
                      {"bg", hex_colour(background)},
                      {"fg", text_colour_on(background)}});
  }
  entry["tokens"] = std::move(tokens);
  entry["text_scale"] = scale;
}

std::string switch_html(const std::vector<HtmlMap>& maps) {
  std::string options;
  for (size_t m = 0; m < maps.size(); ++m) {
    options += fmt::format("<option value=\"{}\">{}</option>", m, text(maps[m].label));
  }
  return fmt::format("<p class=\"switch\"{}><label for=\"map\">Map:</label> <select id=\"map\">{}</select> "
                     "<span class=\"hint\">hover a patch or a token for its value</span></p>\n",
                     maps.size() > 1 ? "" : " hidden", options);
}

std::string image_html(const json& first, const Stage& stage, const std::string& caption) {
  const auto& labels = first["bar_labels"];
  std::string label_spans;
  for (const auto& label : labels) label_spans += fmt::format("<span>{}</span>", text(label.get<std::string>()));
  return fmt::format(
      "<figure>\n<div class=\"stage\"><img id=\"heat\" alt=\"relevance overlay\" width=\"{}\" height=\"{}\" src=\"{}\">"
      "<div class=\"bar\"><div id=\"bar\" style=\"background:{}\"></div><div id=\"bar-labels\">{}</div></div></div>\n"
      "<figcaption><span class=\"caption\">{}</span><br>Relevance of each image unit blended over the image "
      "(opacity rises with |R|), upsampled bicubically; the colour bar's top is a percentile of the values, "
      "larger ones are clipped to it{}.</figcaption>\n</figure>\n",
      stage.shown.cols, stage.shown.rows, first["png"].get<std::string>(), first["bar"].get<std::string>(),
      label_spans, text(caption),
      stage.canvas ? " (the original image was not available: heat map on a gray canvas)" : "");
}

}  // namespace

std::vector<HtmlMap> html_maps(const std::vector<Explanation>& explanations, int max_targets) {
  std::vector<HtmlMap> maps;
  for (const Explanation& e : explanations) {
    const std::string method = method_display_name(e.method);
    if (e.contrast) {  // one signed map: the per-token values hold the target's part only
      maps.push_back({&e, std::nullopt, fmt::format("{}: R (\u201c{}\u201d rather than \u201c{}\u201d)", method,
                                                    e.target, e.contrast->text)});
      continue;
    }
    const bool several = e.targets.size() > 1;
    maps.push_back({&e, std::nullopt, method + (several ? ": R (sum over the target tokens)" : ": R")});
    if (!several) continue;
    const int shown = std::min(static_cast<int>(e.targets.size()), max_targets);
    for (int t = 0; t < shown; ++t) {
      maps.push_back({&e, t, fmt::format("{}: R[\u201c{}\u201d] (target token {})", method,
                                         display_piece(e.targets[static_cast<size_t>(t)].piece), t)});
    }
  }
  return maps;
}

std::string html_maps_section(const std::vector<HtmlMap>& maps, const cv::Mat* original_rgb,
                              const std::vector<const ExplainedUnit*>& text_units, const std::string& caption,
                              const OverlayOptions& overlay) {
  if (maps.empty()) return {};
  const Explanation& first = *maps.front().explanation;
  json data;
  data["image"] = nullptr;
  std::optional<Stage> stage;
  if (first.image_grid) {
    stage = make_stage(first, original_rgb);
    const ImageView view = shown_model_view(first, stage->original.size(), stage->shown.size());
    data["image"] = {{"width", stage->shown.cols}, {"height", stage->shown.rows},
                     {"rows", first.image_grid->first}, {"cols", first.image_grid->second},
                     {"view", {view.x0, view.y0, view.x1, view.y1}}};
  }
  data["maps"] = json::array();
  for (const HtmlMap& map : maps) {
    json entry = {{"label", without_controls(map.label, false)}, {"method", map.explanation->method},
                  {"target", map.target_index ? json(*map.target_index) : json(nullptr)}};
    if (stage && map.explanation->image_grid) add_image_data(entry, map, *stage, overlay);
    add_text_data(entry, map, text_units);
    data["maps"].push_back(std::move(entry));
  }
  // '<' escaped so that no string can close the <script> element.
  std::string blob = data.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string safe;
  for (char c : blob) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  std::string section = "<section>\n" + switch_html(maps);
  if (stage) section += "<h2>Image</h2>\n" + image_html(data["maps"][0], *stage, caption);
  section += "<div id=\"tip\" hidden></div>\n<script type=\"application/json\" id=\"atman-data\">" + safe +
             "</script>\n</section>\n";
  return section;
}

}  // namespace atman

namespace atman {

// The page works without it (the first map, values in title attributes);
// with it: the switch, hover values, and #selftest, which hovers every patch
// and token of every map through the same handlers and writes what the
// tooltip showed into <pre id="selftest"> (tests/python/test_html_chromium.py).
const char* html_maps_script() {
  return R"JS(
(function () {
  const data = JSON.parse(document.getElementById('atman-data').textContent);
  const tip = document.getElementById('tip');
  const img = document.getElementById('heat');
  const select = document.getElementById('map');
  const spans = Array.from(document.querySelectorAll('.tok[data-t]'));
  const geometry = data.image;
  let current = 0;

  const format = v => (v === null ? 'n/a' : Number(v).toPrecision(6));
  function show(lines, x, y) {
    tip.textContent = lines.join('\n');
    tip.style.left = (x + 14) + 'px';
    tip.style.top = (y + 14) + 'px';
    tip.hidden = false;
  }
  function hide() { tip.hidden = true; }

  function selectMap(m) {
    current = m;
    const map = data.maps[m];
    if (img && map.png) {
      img.src = map.png;
      document.getElementById('bar').style.background = map.bar;
      const labels = document.getElementById('bar-labels');
      labels.replaceChildren(...map.bar_labels.map(t => { const s = document.createElement('span'); s.textContent = t; return s; }));
    }
    spans.forEach((span, i) => {
      const token = map.tokens[i];
      span.style.background = token.bg;
      span.style.color = token.fg;
      span.removeAttribute('title');
    });
    const scale = document.getElementById('text-scale');
    if (scale) scale.textContent = '\u00b1' + format(map.text_scale);
  }

  // The patch (row, col) under a client point, or null outside what the model saw.
  function cellAt(clientX, clientY) {
    const box = img.getBoundingClientRect();
    const x = (clientX - box.left) * geometry.width / box.width;
    const y = (clientY - box.top) * geometry.height / box.height;
    const [x0, y0, x1, y1] = geometry.view;
    const col = Math.floor((x - x0) * geometry.cols / (x1 - x0));
    const row = Math.floor((y - y0) * geometry.rows / (y1 - y0));
    if (x < 0 || y < 0 || x >= geometry.width || y >= geometry.height) return null;
    if (row < 0 || col < 0 || row >= geometry.rows || col >= geometry.cols) return null;
    return [row, col];
  }
  // The client point at the centre of patch (row, col).
  function cellCentre(row, col) {
    const box = img.getBoundingClientRect();
    const [x0, y0, x1, y1] = geometry.view;
    const x = x0 + (col + 0.5) * (x1 - x0) / geometry.cols;
    const y = y0 + (row + 0.5) * (y1 - y0) / geometry.rows;
    return [box.left + x * box.width / geometry.width, box.top + y * box.height / geometry.height];
  }

  if (img && geometry) {
    img.addEventListener('mousemove', event => {
      const cell = cellAt(event.clientX, event.clientY);
      const map = data.maps[current];
      const slot = cell && map.cells ? map.cells[cell[0] * geometry.cols + cell[1]] : -1;
      if (slot < 0) { hide(); return; }
      const unit = map.units[slot];
      show([unit.label + ' (position ' + unit.index + ')', map.label, 'R = ' + format(unit.value)],
           event.clientX, event.clientY);
    });
    img.addEventListener('mouseleave', hide);
  }
  spans.forEach((span, i) => {
    span.addEventListener('mouseenter', event => {
      const map = data.maps[current];
      const token = map.tokens[i];
      show([token.label, map.label, 'R = ' + format(token.value)], event.clientX, event.clientY);
    });
    span.addEventListener('mouseleave', hide);
  });
  if (select) select.addEventListener('change', () => selectMap(Number(select.value)));
  selectMap(0);

  function selftest() {
    const result = { maps: [] };
    data.maps.forEach((map, m) => {
      select.value = String(m);
      select.dispatchEvent(new Event('change'));
      const entry = { label: map.label, method: map.method, target: map.target, image_shown: false,
                      patches: [], tokens: [] };
      if (img && map.units) {
        entry.image_shown = img.getAttribute('src') === map.png;
        map.units.forEach(unit => {
          const [x, y] = cellCentre(unit.cell[0], unit.cell[1]);
          img.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: y, bubbles: true }));
          entry.patches.push({ index: unit.index, row: unit.cell[0], col: unit.cell[1],
                               shown: tip.hidden ? null : tip.textContent });
        });
      }
      spans.forEach(span => {
        const box = span.getBoundingClientRect();
        span.dispatchEvent(new MouseEvent('mouseenter', { clientX: box.left + 1, clientY: box.top + 1 }));
        entry.tokens.push({ index: Number(span.dataset.index), shown: tip.hidden ? null : tip.textContent });
      });
      result.maps.push(entry);
    });
    hide();
    const pre = document.createElement('pre');
    pre.id = 'selftest';
    pre.textContent = JSON.stringify(result);
    document.body.appendChild(pre);
  }
  if (location.hash === '#selftest') selftest();
})();
)JS";
}

}  // namespace atman
