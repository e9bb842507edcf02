#include "aleph_alpha.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "atman/core/shaping.h"
#include "atman/core/text_offsets.h"
#include "atman/io/image.h"
#include "atman/model/sequence.h"
#include "atman/render/image_scores.h"
#include "atman/render/overlay.h"
#include "base64.h"

namespace atman::serve {
namespace {

using nlohmann::json;

const char* const kFields[] = {"model", "prompt", "target", "control_factor", "contextual_control_threshold",
                               "control_log_additive", "control_token_overlap", "prompt_granularity",
                               "target_granularity", "postprocessing", "normalize", "hosting"};

void check_known(const json& object, std::initializer_list<const char*> known, const std::string& where) {
  for (const auto& [field, value] : object.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return field == k; })) {
      throw bad_request(fmt::format("unknown field {}{}", where, field));
    }
  }
}

// A crop of the picture (the item's x, y and size, in pixels) re-encoded losslessly.
std::string cropped_picture(const std::string& bytes, const json& item, const std::string& where) {
  if (!item.contains("x") && !item.contains("y") && !item.contains("size")) return bytes;
  for (const char* key : {"x", "y", "size"}) {
    if (!item.contains(key) || !item[key].is_number_integer()) {
      throw bad_request(fmt::format("{}: cropping needs integer x, y and size", where));
    }
  }
  cv::Mat rgb;
  try {
    rgb = decode_image_rgb(bytes, "image");
  } catch (const std::exception& e) {
    throw bad_request(where + ": " + e.what());
  }
  const int64_t x = item["x"], y = item["y"], size = item["size"];
  if (x < 0 || y < 0 || size < 1 || x + size > rgb.cols || y + size > rgb.rows) {
    throw bad_request(fmt::format("{}: the crop x {} y {} size {} is not inside the {} x {} picture", where, x, y, size,
                                  rgb.cols, rgb.rows));
  }
  return encode_png(rgb(cv::Rect(static_cast<int>(x), static_cast<int>(y), static_cast<int>(size),
                                 static_cast<int>(size)))
                        .clone());
}

// prompt_granularity as explain's flags: text units, and image tiles per side (token 12 ... paragraph 1).
void add_granularity(const json& body, const Model& model, std::vector<std::string>& argv) {
  const auto it = body.find("prompt_granularity");
  int64_t tiles = 0;  // 0: patches
  if (it == body.end() || it->is_null()) {
    argv.push_back("--granularity=auto");  // about 30 units (auto's target)
    argv.push_back("--target-units=30");
    tiles = 6;
  } else {
    if (!it->is_object() || !it->contains("type") || !(*it)["type"].is_string()) {
      throw bad_request("prompt_granularity must be {\"type\": \"token\"|\"word\"|\"sentence\"|\"paragraph\"|\"custom\"}");
    }
    check_known(*it, {"type", "delimiter"}, "prompt_granularity.");
    const std::string type = (*it)["type"];
    if (type == "custom") {
      if (!it->contains("delimiter") || !(*it)["delimiter"].is_string() || (*it)["delimiter"].get<std::string>().empty()) {
        throw bad_request("prompt_granularity custom needs a non-empty string delimiter");
      }
      argv.push_back("--granularity=delimiter");
      argv.push_back("--delimiter=" + (*it)["delimiter"].get<std::string>());
      tiles = 1;
    } else if (type == "token" || type == "word" || type == "sentence" || type == "paragraph") {
      argv.push_back("--granularity=" + type);
      tiles = type == "token" ? 12 : type == "word" ? 6 : type == "sentence" ? 3 : 1;
    } else {
      throw bad_request("prompt_granularity type must be token, word, sentence, paragraph or custom, got " + type);
    }
  }
  if (model.has_image()) {
    const ImageConfig& image = *model.config().image;
    const int64_t side = std::min(image.grid_rows, image.grid_cols);
    const int64_t n = std::min(tiles, side);  // a grid smaller than the tiles: one tile per patch
    argv.push_back(n >= side ? "--image-granularity=patch" : "--image-granularity=" + std::to_string(n));
  }
}

// The hosted API's options as explain's flags.
void add_controls(const json& body, std::vector<std::string>& argv) {
  if (body.contains("control_factor")) {
    if (!body["control_factor"].is_number()) throw bad_request("control_factor must be a number");
    argv.push_back(fmt::format("--suppression-factor={}", body["control_factor"].get<double>()));
  } else {
    argv.push_back("--suppression-factor=0.1");
  }
  const auto threshold = body.find("contextual_control_threshold");
  if (threshold == body.end() || threshold->is_null()) {
    argv.push_back("--conceptual-threshold=off");
  } else {
    if (!threshold->is_number()) throw bad_request("contextual_control_threshold must be a number or null");
    argv.push_back(fmt::format("--conceptual-threshold={}", threshold->get<double>()));
  }
  bool log_additive = true;
  if (body.contains("control_log_additive")) {
    if (!body["control_log_additive"].is_boolean()) throw bad_request("control_log_additive must be true or false");
    log_additive = body["control_log_additive"];
  }
  argv.push_back(log_additive ? "--control=log-additive" : "--control=multiplicative");
  auto text_option = [&](const char* field, const char* flag, std::initializer_list<const char*> allowed) {
    if (!body.contains(field) || body[field].is_null()) return;
    const json& value = body[field];
    if (!value.is_string() ||
        std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return value.get<std::string>() == a; })) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw bad_request(fmt::format("{} must be one of {}", field, list));
    }
    argv.push_back(fmt::format("--{}={}", flag, value.get<std::string>()));
  };
  text_option("control_token_overlap", "token-overlap", {"partial", "complete"});
  text_option("target_granularity", "target-granularity", {"complete", "token"});
  text_option("postprocessing", "postprocess", {"square", "absolute"});
  if (body.contains("normalize")) {
    if (!body["normalize"].is_boolean()) throw bad_request("normalize must be true or false");
    if (body["normalize"].get<bool>()) argv.push_back("--normalize");
  }
}

// Characters [begin, end) of `bytes` [byte_begin, byte_end) of a text whose character offsets are `chars`.
std::pair<int64_t, int64_t> character_span(const std::vector<int64_t>& chars, int64_t byte_begin, int64_t byte_end) {
  const auto begin = std::lower_bound(chars.begin(), chars.end(), byte_begin) - chars.begin();
  const auto end = std::lower_bound(chars.begin(), chars.end(), byte_end) - chars.begin();
  return {begin, end};
}

}  // namespace

AlephAlphaCall parse_aleph_alpha_request(const json& body, const Model& model) {
  check_known(body, {kFields[0], kFields[1], kFields[2], kFields[3], kFields[4], kFields[5], kFields[6], kFields[7],
                     kFields[8], kFields[9], kFields[10], kFields[11]},
              "");
  AlephAlphaCall out;
  if (!body.contains("model") || !body["model"].is_string()) throw bad_request("model must be a served model's name");
  out.call.model = body["model"];
  if (!body.contains("target") || !body["target"].is_string()) throw bad_request("target must be a string");
  const auto prompt_it = body.find("prompt");
  if (prompt_it == body.end()) throw bad_request("prompt is missing");
  json items = *prompt_it;
  if (items.is_string()) items = json::array({{{"type", "text"}, {"data", items}}});  // the client's Prompt.from_text
  if (!items.is_array() || items.empty()) throw bad_request("prompt must be a non-empty list of items");

  std::string prompt;
  for (size_t k = 0; k < items.size(); ++k) {
    const json& item = items[k];
    const std::string where = fmt::format("prompt[{}]", k);
    if (!item.is_object() || !item.contains("type") || !item["type"].is_string()) {
      throw bad_request(where + " must be an object with a type");
    }
    const std::string type = item["type"];
    if (item.contains("controls") && !(item["controls"].is_array() && item["controls"].empty())) {
      throw bad_request(where + ".controls: controls on prompt items are not mapped (docs/serve.md)");
    }
    if (type == "text") {
      check_known(item, {"type", "data", "controls"}, where + ".");
      if (!item.contains("data") || !item["data"].is_string()) throw bad_request(where + ".data must be a string");
      const std::string text = item["data"];
      if (text.find(kImageMarker) != std::string::npos) {
        throw bad_request(where + ".data contains " + std::string(kImageMarker) + ", which places the picture here");
      }
      PromptItem p{"text", static_cast<int64_t>(prompt.size()), 0, text};
      prompt += text;
      p.byte_end = static_cast<int64_t>(prompt.size());
      out.items.push_back(std::move(p));
    } else if (type == "image") {
      check_known(item, {"type", "data", "controls", "x", "y", "size"}, where + ".");
      if (!out.call.image_bytes.empty()) throw bad_request(where + ": one image per prompt (the model has one image slot)");
      if (!model.has_image()) throw bad_request(where + ": model " + out.call.model + " is text-only");
      if (!item.contains("data") || !item["data"].is_string()) throw bad_request(where + ".data must be base64 text");
      std::string bytes;
      try {
        bytes = base64_decode(item["data"].get<std::string>());
      } catch (const std::invalid_argument& e) {
        throw bad_request(where + ".data: " + e.what());
      }
      if (bytes.empty()) throw bad_request(where + ".data is empty");
      out.call.image_bytes = cropped_picture(bytes, item, where);
      out.items.push_back({"image", static_cast<int64_t>(prompt.size()), static_cast<int64_t>(prompt.size()), {}});
      prompt += kImageMarker;
    } else if (type == "token_ids") {
      throw bad_request(where + ": token_ids items are not mapped (the prompt is explained from its text)");
    } else {
      throw bad_request(where + ".type must be text, image or token_ids, got " + type);
    }
  }
  std::vector<std::string> argv = {"--model=served:" + out.call.model, "--prompt=" + prompt};
  const std::string target = body["target"];
  if (target.empty()) throw bad_request("target is empty");
  argv.push_back("--target=" + target);
  add_granularity(body, model, argv);
  add_controls(body, argv);
  out.call.args = parse_explain_flags(argv);
  return out;
}

json aleph_alpha_response(const AlephAlphaCall& request, const Explanation& e, const Model& model,
                          const std::string& model_version) {
  const int64_t image_positions = e.image_grid ? e.image_grid->first * e.image_grid->second : 0;
  const Sequence seq = build_sequence(model, e.prompt, e.target, image_positions);
  const std::vector<TextRange> ranges = text_ranges(seq, model.tokenizer());
  const std::vector<int64_t> target_chars = character_byte_offsets(e.target);

  json explanations = json::array();
  for (const PresentedMap& map : presented_maps(e)) {
    json items = json::array();
    for (const PromptItem& item : request.items) {
      if (item.type == "image") {
        json scores = json::array();
        for (const ImageRectScore& r : image_rect_scores(e, map.scores)) {
          scores.push_back({{"rect", {{"left", r.left}, {"top", r.top}, {"width", r.width}, {"height", r.height}}},
                            {"score", r.score}});
        }
        items.push_back({{"type", "image"}, {"scores", scores}});
        continue;
      }
      const std::vector<int64_t> chars = character_byte_offsets(item.text);
      json scores = json::array();
      for (size_t u = 0; u < e.units.size(); ++u) {
        const ExplainedUnit& unit = e.units[u];
        if (unit.kind != PositionKind::kText) continue;
        int64_t begin = INT64_MAX, end = -1;  // the members' bytes inside this item
        for (int64_t m : unit.members) {
          const TextRange& r = ranges[m];
          if (r.begin < 0 || r.in_target || r.end <= item.byte_begin || r.begin >= item.byte_end) continue;
          begin = std::min(begin, std::max(r.begin, item.byte_begin) - item.byte_begin);
          end = std::max(end, std::min(r.end, item.byte_end) - item.byte_begin);
        }
        if (end < 0) continue;
        const auto [c0, c1] = character_span(chars, begin, end);
        scores.push_back({{"start", c0}, {"length", c1 - c0}, {"score", map.scores[u]}});
      }
      items.push_back({{"type", "text"}, {"scores", scores}});
    }
    json target_scores = json::array();
    for (size_t u = 0; u < e.units.size(); ++u) {
      const ExplainedUnit& unit = e.units[u];
      if (unit.kind != PositionKind::kTarget) continue;
      const TextRange& r = ranges[unit.index];
      if (r.begin < 0) continue;
      const auto [c0, c1] = character_span(target_chars, r.begin, r.end);
      target_scores.push_back({{"start", c0}, {"length", c1 - c0}, {"score", map.scores[u]}});
    }
    items.push_back({{"type", "target"}, {"scores", target_scores}});
    std::string target = e.target;
    if (map.target_tokens.size() == 1 && e.targets.size() > 1) {
      target = model.tokenizer().decode({e.targets[map.target_tokens[0]].id});
    }
    explanations.push_back({{"target", target}, {"items", items}});
  }
  return {{"model_version", model_version}, {"explanations", explanations}};
}

}  // namespace atman::serve
