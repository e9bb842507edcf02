#include "atman/render/json_output.h"

#include <nlohmann/json.hpp>

#include "atman/core/shaping.h"
#include "atman/render/image_scores.h"

namespace atman {
namespace {

using json = nlohmann::ordered_json;

json tokens_json(const std::vector<TargetToken>& tokens) {
  json out = json::array();
  for (const TargetToken& t : tokens) out.push_back({{"id", t.id}, {"piece", t.piece}, {"ce", t.ce}});
  return out;
}

// The maps of params.target_granularity (core/shaping.h), each with its image
// rectangles in 0-1 image coordinates (render/image_scores.h).
json explanations_json(const Explanation& e) {
  json out = json::array();
  for (const PresentedMap& map : presented_maps(e)) {
    json entry;
    entry["target_tokens"] = map.target_tokens;
    entry["scores"] = map.scores;
    if (e.image_grid && e.image_size && e.image_config) {  // every explain sets the size (core/shaping.h)
      json image = json::array();
      for (const ImageRectScore& r : image_rect_scores(e, map.scores)) {
        image.push_back({{"rect", {{"left", r.left}, {"top", r.top}, {"width", r.width}, {"height", r.height}}},
                         {"score", r.score}});
      }
      entry["image"] = std::move(image);
    }
    out.push_back(std::move(entry));
  }
  return out;
}

// How the units were formed (docs/json.md; docs/method.md, "Groups").
void add_unit_params(const Explanation& e, json& params) {
  const ExplainOptions& o = e.params;
  if (e.chosen_granularity) params["chosen_granularity"] = granularity_name(*e.chosen_granularity);
  if (o.granularity == Granularity::kDelimiter) params["delimiter"] = o.delimiter;
  if (o.granularity == Granularity::kAuto) params["target_units"] = o.target_units;
  if (!o.groups.empty()) {
    json groups = json::array();
    for (const CustomGroup& g : o.groups) {
      json entry = {{"name", g.name}, {"spans", g.spans}};
      if (g.rect) entry["rect"] = *g.rect;
      groups.push_back(std::move(entry));
    }
    params["groups"] = std::move(groups);
  }
  params["token_overlap"] = token_overlap_name(o.token_overlap);
  params["image_granularity"] = o.image_granularity;
  params["image_search"] = image_search_name(o.image_search);
  if (o.image_search == ImageSearch::kCoarseToFine) params["refine_fraction"] = o.refine_fraction;
}

void add_unit_label(const Explanation& e, const ExplainedUnit& u, json& p) {
  if (!u.name.empty()) p["name"] = u.name;
  if (!u.coverage.empty()) p["coverage"] = u.coverage;
  if (u.tile_row0 >= 0) p["tile"] = {{"rows", {u.tile_row0, u.tile_row1}}, {"cols", {u.tile_col0, u.tile_col1}}};
  if (e.params.image_search == ImageSearch::kCoarseToFine && u.kind == PositionKind::kImage) p["refined"] = u.refined;
}

}  // namespace

std::string explanation_to_json(const Explanation& e, int indent) {
  json doc;
  doc["model"] = e.model;
  doc["method"] = e.method;
  doc["prompt"] = e.prompt;
  doc["target"] = e.target;
  doc["params"] = {
      {"suppression_factor", e.params.suppression_factor},
      {"conceptual_threshold", e.params.conceptual_threshold ? json(*e.params.conceptual_threshold) : json(nullptr)},
      {"granularity", granularity_name(e.params.granularity)},
  };
  doc["params"]["target_granularity"] = target_granularity_name(e.params.target_granularity);
  doc["params"]["postprocess"] = postprocess_name(e.params.postprocess);
  doc["params"]["normalize"] = e.params.normalize;
  doc["params"]["control"] = control_name(e.params.control);  // how the factors act (docs/method.md, "Controls")
  add_unit_params(e, doc["params"]);
  if (e.params.precision != Precision::kFloat32) {  // a reduced precision: which values are float32 (docs/json.md)
    doc["params"]["precision"] = precision_name(e.params.precision);
    doc["params"]["recompute_top"] = e.params.recompute_top;
    doc["params"]["recompute_margin"] = e.params.recompute_margin;
  }
  for (const auto& [key, value] : e.method_params) doc["params"][key] = value;
  for (const auto& [key, value] : e.method_text_params) doc["params"][key] = value;
  doc["image_grid"] = e.image_grid ? json::array({e.image_grid->first, e.image_grid->second}) : json(nullptr);
  doc["targets"] = tokens_json(e.targets);
  if (e.contrast) doc["contrast"] = {{"text", e.contrast->text}, {"tokens", tokens_json(e.contrast->tokens)}};
  json positions = json::array();
  for (const ExplainedUnit& u : e.units) {
    json p;
    p["index"] = u.index;
    p["kind"] = position_kind_name(u.kind);
    if (u.kind == PositionKind::kImage) {
      p["patch"] = {u.patch_row, u.patch_col};
    } else {
      p["piece"] = u.piece;
      p["token_id"] = u.token_id;
    }
    p["members"] = u.members;
    add_unit_label(e, u, p);
    if (e.params.precision != Precision::kFloat32) p["recomputed"] = u.recomputed;
    p["relevance"] = u.relevance;
    p["per_target"] = u.per_target;
    if (e.contrast) p["per_contrast"] = u.per_contrast;
    if (e.shaped) {  // the values before --postprocess / --normalize
      p["raw_relevance"] = u.raw_relevance;
      p["raw_per_target"] = u.raw_per_target;
      if (e.contrast) p["raw_per_contrast"] = u.raw_per_contrast;
    }
    positions.push_back(std::move(p));
  }
  doc["positions"] = std::move(positions);
  doc["explanations"] = explanations_json(e);
  doc["stats"] = {
      {"forward_passes", e.stats.forward_passes}, {"positions_computed", e.stats.positions_computed},
      {"load_seconds", e.stats.load_seconds},     {"compile_seconds", e.stats.compile_seconds},
      {"sweep_seconds", e.stats.sweep_seconds},   {"peak_memory_mb", e.stats.peak_memory_mb},
      {"threads", e.stats.threads},               {"batch_size", e.stats.batch_size},
  };
  if (e.stats.world_size > 1) {  // a sharded sweep (docs/distributed.md)
    doc["stats"]["world_size"] = e.stats.world_size;
    doc["stats"]["rank_seconds"] = e.stats.rank_seconds;
    doc["stats"]["gather_seconds"] = e.stats.gather_seconds;
  }
  // Replace invalid UTF-8 rather than throwing (prompts are validated; pieces come from the model).
  return doc.dump(indent, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace atman
