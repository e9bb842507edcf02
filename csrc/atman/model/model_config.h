#pragma once
// atman/config.json of an explainable model (contract 1, docs/contract.md):
// its fields and the parser that checks every one of them.

#include <cstdint>
#include <optional>
#include <string>

#include "atman/io/image_config.h"

namespace atman {

/// The marker of prompt_template (and of a verbatim prompt) where the image's
/// positions stand (docs/contract.md, "Prompt and target ids").
inline constexpr char kImageMarker[] = "{image}";

/// atman/config.json, contract 1. Every field is checked by parse_model_config.
struct ModelConfig {
  int64_t contract = 1;
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  std::optional<int64_t> num_kv_heads;  // optional key (docs/contract.md); kv_heads() gives the default
  int64_t max_positions = 0;
  bool add_bos = true;
  int64_t bos_id = 0;
  std::optional<int64_t> eos_id;     // optional key (docs/optional_methods.md)
  std::optional<ImageConfig> image;  // nullopt for a text-only model
  std::string prompt_template;       // contains "{question}"
  /// Key-value heads of the model's cache: num_kv_heads, or num_heads without it.
  int64_t kv_heads() const { return num_kv_heads.value_or(num_heads); }
  std::optional<int64_t> head_dim;  // optional key (docs/contract.md); head_width() gives the default
  /// Width of one attention head, the caches' last dimension: head_dim, or hidden_size / num_heads.
  int64_t head_width() const { return head_dim.value_or(hidden_size / num_heads); }
};

/// Parses and checks config.json text; `origin` names the file in errors.
/// Throws std::runtime_error with one line naming the field and the problem.
ModelConfig parse_model_config(const std::string& json_text, const std::string& origin);

}  // namespace atman
