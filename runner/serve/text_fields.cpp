#include "text_fields.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api_error.h"
#include "atman/io/image.h"
#include "atman/model/sequence.h"
#include "base64.h"

namespace atman::serve {

void check_fields(const nlohmann::json& body, std::initializer_list<const char*> known) {
  for (const auto& [field, value] : body.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return field == k; })) {
      throw bad_request("unknown field " + field);
    }
  }
}

std::string required_string(const nlohmann::json& body, const char* field) {
  const auto it = body.find(field);
  if (it == body.end()) throw bad_request(fmt::format("{} is missing", field));
  if (!it->is_string()) throw bad_request(fmt::format("{} must be a string", field));
  return it->get<std::string>();
}

std::vector<std::string> optional_strings(const nlohmann::json& body, const char* field) {
  const auto it = body.find(field);
  if (it == body.end()) return {};
  if (!it->is_array()) throw bad_request(fmt::format("{} must be a list of strings", field));
  std::vector<std::string> out;
  for (const auto& item : *it) {
    if (!item.is_string()) throw bad_request(fmt::format("{} must be a list of strings", field));
    out.push_back(item.get<std::string>());
  }
  return out;
}

double optional_number(const nlohmann::json& body, const char* field, double fallback) {
  const auto it = body.find(field);
  if (it == body.end()) return fallback;
  if (!it->is_number()) throw bad_request(fmt::format("{} must be a number", field));
  return it->get<double>();
}

int64_t optional_integer(const nlohmann::json& body, const char* field, int64_t fallback, int64_t min, int64_t max) {
  const auto it = body.find(field);
  if (it == body.end()) return fallback;
  if (!it->is_number_integer()) throw bad_request(fmt::format("{} must be an integer", field));
  const int64_t value = it->get<int64_t>();
  if (value < min || value > max) throw bad_request(fmt::format("{} must be in [{}, {}], got {}", field, min, max, value));
  return value;
}

std::string prompt_of(const nlohmann::json& body, const ModelConfig& config) {
  if (body.contains("prompt") == body.contains("question")) throw bad_request("give exactly one of prompt and question");
  if (body.contains("prompt")) return required_string(body, "prompt");
  return prompt_from_question(config, required_string(body, "question"));
}

cv::Mat decode_picture(const std::string& bytes, const Model& model, const MemoryBudget& budget) {
  if (!model.has_image()) throw bad_request("model " + model.config().name + " is text-only: it takes no image");
  if (bytes.empty()) throw bad_request("image is empty");
  try {
    budget.require(estimate_decode_bytes(bytes, "image"), "decoding the image");
    return decode_image_rgb(bytes, "image");
  } catch (const ResourceLimitError& e) {
    throw ApiError(413, e.what());
  } catch (const std::exception& e) {
    throw bad_request(e.what());
  }
}

cv::Mat image_of(const nlohmann::json& body, const Model& model, const MemoryBudget& budget) {
  if (!body.contains("image")) return {};
  try {
    return decode_picture(base64_decode(required_string(body, "image")), model, budget);
  } catch (const std::invalid_argument& e) {
    throw bad_request(std::string("image: ") + e.what());
  }
}

}  // namespace atman::serve
