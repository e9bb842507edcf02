#include "atman/render/json_output.h"

#include <nlohmann/json.hpp>

namespace atman {

std::string explanation_to_json(const Explanation& e, int indent) {
  using json = nlohmann::ordered_json;
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
  doc["params"]["control"] = control_name(e.params.control);  // how the factors act (docs/method.md, "Controls")
  for (const auto& [key, value] : e.method_params) doc["params"][key] = value;
  for (const auto& [key, value] : e.method_text_params) doc["params"][key] = value;
  doc["image_grid"] = e.image_grid ? json::array({e.image_grid->first, e.image_grid->second}) : json(nullptr);
  json targets = json::array();
  for (const TargetToken& t : e.targets) targets.push_back({{"id", t.id}, {"piece", t.piece}, {"ce", t.ce}});
  doc["targets"] = std::move(targets);
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
    p["relevance"] = u.relevance;
    p["per_target"] = u.per_target;
    positions.push_back(std::move(p));
  }
  doc["positions"] = std::move(positions);
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
