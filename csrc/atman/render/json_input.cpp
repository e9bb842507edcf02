#include "atman/render/json_input.h"

#include <stdexcept>

#include <nlohmann/json.hpp>

#include "atman/core/names.h"

namespace atman {
namespace {

using json = nlohmann::json;

PositionKind kind_from(const std::string& name) {
  for (PositionKind kind : {PositionKind::kImage, PositionKind::kText, PositionKind::kTarget}) {
    if (position_kind_name(kind) == name) return kind;
  }
  throw std::invalid_argument("unknown position kind '" + name + "'");
}

double number(const json& value) { return value.is_null() ? NAN : value.get<double>(); }

std::vector<TargetToken> tokens_from(const json& tokens) {
  std::vector<TargetToken> out;
  for (const json& t : tokens) out.push_back({t.at("id").get<int64_t>(), t.at("piece").get<std::string>(), number(t.at("ce"))});
  return out;
}

ExplainedUnit unit_from(const json& p) {
  ExplainedUnit u;
  u.index = p.at("index").get<int64_t>();
  u.kind = kind_from(p.at("kind").get<std::string>());
  u.members = p.at("members").get<std::vector<int64_t>>();
  if (u.kind == PositionKind::kImage) {
    u.patch_row = p.at("patch").at(0).get<int64_t>();
    u.patch_col = p.at("patch").at(1).get<int64_t>();
  } else {
    u.piece = p.at("piece").get<std::string>();
    u.token_id = p.value("token_id", int64_t{-1});
  }
  u.name = p.value("name", std::string());
  if (p.contains("tile")) {
    u.tile_row0 = p["tile"].at("rows").at(0), u.tile_row1 = p["tile"].at("rows").at(1);
    u.tile_col0 = p["tile"].at("cols").at(0), u.tile_col1 = p["tile"].at("cols").at(1);
  }
  u.refined = p.value("refined", true);
  u.relevance = number(p.at("relevance"));
  for (const json& v : p.at("per_target")) u.per_target.push_back(number(v));
  if (p.contains("per_contrast")) {
    for (const json& v : p["per_contrast"]) u.per_contrast.push_back(number(v));
  }
  return u;
}

}  // namespace

Explanation explanation_from_json(const std::string& text) {
  try {
    const json doc = json::parse(text);
    Explanation e;
    e.model = doc.at("model").get<std::string>();
    e.method = doc.at("method").get<std::string>();
    e.prompt = doc.at("prompt").get<std::string>();
    e.target = doc.at("target").get<std::string>();
    e.params.granularity = parse_granularity(doc.at("params").at("granularity").get<std::string>());
    if (!doc.at("image_grid").is_null()) {
      e.image_grid = std::make_pair(doc["image_grid"].at(0).get<int64_t>(), doc["image_grid"].at(1).get<int64_t>());
    }
    e.targets = tokens_from(doc.at("targets"));
    if (doc.contains("contrast")) e.contrast = ContrastAnswer{doc["contrast"].at("text"), tokens_from(doc["contrast"].at("tokens"))};
    for (const json& p : doc.at("positions")) e.units.push_back(unit_from(p));
    return e;
  } catch (const json::exception& error) {
    throw std::invalid_argument(std::string("explanation JSON: ") + error.what());
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(std::string("explanation JSON: ") + error.what());
  }
}

}  // namespace atman
