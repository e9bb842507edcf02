#pragma once
// Fields of the service's JSON bodies other than explain's options: each
// reader throws ApiError 400 naming the field for a wrong type or range.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <opencv2/core.hpp>

#include "atman/generate/steering.h"
#include "atman/model/model.h"
#include "atman/runtime/resource_limits.h"
#include "request_fields.h"  // optional_bool

namespace atman::serve {

/// 400 "unknown field X" for a field not in `known`.
void check_fields(const nlohmann::json& body, std::initializer_list<const char*> known);
std::string required_string(const nlohmann::json& body, const char* field);
std::vector<std::string> optional_strings(const nlohmann::json& body, const char* field);
double optional_number(const nlohmann::json& body, const char* field, double fallback);
int64_t optional_integer(const nlohmann::json& body, const char* field, int64_t fallback, int64_t min, int64_t max);
/// The prompt of "prompt" (verbatim) or "question" (in the model's template): exactly one of them.
std::string prompt_of(const nlohmann::json& body, const ModelConfig& config);
/// Encoded picture bytes decoded to 8-bit RGB within the budget (400 for a
/// text-only model or a bad picture, 413 over the budget).
cv::Mat decode_picture(const std::string& bytes, const Model& model, const MemoryBudget& budget);
/// The picture of "image" (base64) decoded to 8-bit RGB within the budget; empty without one.
cv::Mat image_of(const nlohmann::json& body, const Model& model, const MemoryBudget& budget);

struct GenerateRequest {
  std::string prompt;
  cv::Mat image;
  SteeringOptions options;
};

}  // namespace atman::serve
