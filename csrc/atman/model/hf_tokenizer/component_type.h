#pragma once
// What the component factories (normalizer, pre-tokenizer, decoder) share:
// reading a component's "type" and the one-line refusals.

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace atman::hf {

/// config["type"] when it is a string, else "" (refused by unsupported_component).
inline std::string component_type(const nlohmann::json& config) {
  return config.is_object() && config.contains("type") && config["type"].is_string()
             ? config["type"].get<std::string>()
             : std::string();
}

/// "decoder Replace is malformed (...)": a known type whose fields do not parse.
inline std::invalid_argument malformed_component(const std::string& kind, const std::string& type,
                                                 const nlohmann::json::exception& e) {
  return std::invalid_argument(kind + " " + type + " is malformed (" + e.what() + ")");
}

/// "decoder type \"X\" is not supported (supported: ...)"; without a type the
/// component's first 40 characters stand for it.
inline std::invalid_argument unsupported_component(const std::string& kind, const nlohmann::json& config,
                                                   const std::string& supported) {
  const std::string type = component_type(config);
  return std::invalid_argument(kind + " type " +
                               nlohmann::json(type.empty() ? config.dump().substr(0, 40) : type).dump() +
                               " is not supported (supported: " + supported + ")");
}

}  // namespace atman::hf
