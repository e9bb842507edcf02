#include "atman/model/model_config.h"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>


namespace atman {
namespace {

using nlohmann::json;

// Readers of one config field; every failure names origin, field and what came.
class ConfigReader {
 public:
  ConfigReader(const json& root, std::string origin) : root_(root), origin_(std::move(origin)) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const {
    throw std::runtime_error(
        fmt::format("{}: atman/config.json: \"{}\" {}", origin_, field, problem));
  }
  static std::string shown(const json& value) {
    std::string text = value.dump();
    if (text.size() > 60) text = text.substr(0, 60) + "...";
    return text;
  }
  const json& get(const json& object, const std::string& key, const std::string& field) const {
    auto it = object.find(key);
    if (it == object.end()) fail(field, "is missing");
    return *it;
  }
  int64_t integer(const json& object, const std::string& key, const std::string& field, int64_t min,
                  int64_t max = INT64_MAX) const {
    const json& value = get(object, key, field);
    if (!value.is_number_integer()) fail(field, "must be an integer, got " + shown(value));
    const int64_t v = value.get<int64_t>();
    if (v < min || v > max) {
      fail(field, max == INT64_MAX ? fmt::format("must be at least {}, got {}", min, v)
                                   : fmt::format("must be in [{}, {}], got {}", min, max, v));
    }
    return v;
  }
  std::string string(const json& object, const std::string& key, const std::string& field) const {
    const json& value = get(object, key, field);
    if (!value.is_string()) fail(field, "must be a string, got " + shown(value));
    return value.get<std::string>();
  }
  bool boolean(const json& object, const std::string& key, const std::string& field) const {
    const json& value = get(object, key, field);
    if (!value.is_boolean()) fail(field, "must be true or false, got " + shown(value));
    return value.get<bool>();
  }
  std::vector<int64_t> int_list(const json& object, const std::string& key, const std::string& field,
                                size_t count, int64_t min) const {
    const json& value = get(object, key, field);
    if (!value.is_array() || value.size() != count) {
      fail(field, fmt::format("must be a list of {} integers, got {}", count, shown(value)));
    }
    std::vector<int64_t> out;
    for (const json& item : value) {
      if (!item.is_number_integer() || item.get<int64_t>() < min) {
        fail(field, fmt::format("must be a list of {} integers >= {}, got {}", count, min, shown(value)));
      }
      out.push_back(item.get<int64_t>());
    }
    return out;
  }
  std::array<double, 3> triple(const json& object, const std::string& key, const std::string& field,
                               bool positive) const {
    const json& value = get(object, key, field);
    if (!value.is_array() || value.size() != 3) fail(field, "must be a list of 3 numbers, got " + shown(value));
    std::array<double, 3> out{};
    for (size_t i = 0; i < 3; ++i) {
      const json& item = value[i];
      if (!item.is_number() || !std::isfinite(item.get<double>()) || (positive && item.get<double>() <= 0)) {
        fail(field, std::string("must be a list of 3 ") + (positive ? "positive " : "finite ") +
                        "numbers, got " + shown(value));
      }
      out[i] = item.get<double>();
    }
    return out;
  }

 private:
  const json& root_;
  std::string origin_;
};

// The "image" object (docs/contract.md, "Pixels").
ImageConfig parse_image_config(ConfigReader& r, const json& image) {
  if (!image.is_object()) r.fail("image", "must be an object or null, got " + ConfigReader::shown(image));
  ImageConfig ic;
  const auto size = r.int_list(image, "size", "image.size", 2, 1);
  const auto grid = r.int_list(image, "grid", "image.grid", 2, 1);
  ic.height = size[0];
  ic.width = size[1];
  ic.grid_rows = grid[0];
  ic.grid_cols = grid[1];
  if (ic.height > 8192 || ic.width > 8192) r.fail("image.size", "must be at most 8192 per side");
  if (ic.grid_rows > ic.height || ic.grid_cols > ic.width) {
    r.fail("image.grid", fmt::format("must not exceed image.size [{}, {}]", ic.height, ic.width));
  }
  ic.mean = r.triple(image, "mean", "image.mean", false);
  ic.std = r.triple(image, "std", "image.std", true);
  if (image.contains("resize") && !image["resize"].is_null()) {  // optional
    const std::string resize = r.string(image, "resize", "image.resize");
    if (resize == "stretch") {
      ic.resize = ImageResize::kStretch;
    } else if (resize == "center_crop") {
      ic.resize = ImageResize::kCenterCrop;
    } else if (resize == "pad") {
      ic.resize = ImageResize::kPad;
    } else {
      r.fail("image.resize",
             "must be \"stretch\", \"center_crop\" or \"pad\", got " + ConfigReader::shown(image["resize"]));
    }
  }
  if (image.contains("resample") && !image["resample"].is_null()) {  // optional
    const std::string resample = r.string(image, "resample", "image.resample");
    const auto* found = std::find_if(std::begin(kImageResamples), std::end(kImageResamples),
                                     [&](ImageResample each) { return resample == image_resample_name(each); });
    if (found == std::end(kImageResamples)) {
      r.fail("image.resample", "must be \"opencv\", \"pil_bicubic\", \"pil_bilinear\", \"pil_lanczos\", "
                               "\"pil_box\" or \"pil_hamming\", got " + ConfigReader::shown(image["resample"]));
    }
    ic.resample = *found;
  }
  return ic;
}

// {question} once or more; {image}, which places the image's positions
// (docs/contract.md, "Prompt and target ids"), at most once and only with an image.
void check_prompt_template(ConfigReader& r, const json& shown_value, const ModelConfig& c) {
  if (c.prompt_template.find("{question}") == std::string::npos) {
    r.fail("prompt_template", "must contain {question}, got " + ConfigReader::shown(shown_value));
  }
  const size_t image_marker = c.prompt_template.find(kImageMarker);
  if (image_marker == std::string::npos) return;
  if (c.prompt_template.find(kImageMarker, image_marker + 1) != std::string::npos) {
    r.fail("prompt_template", "may contain {image} at most once, got " + ConfigReader::shown(shown_value));
  }
  if (!c.image) r.fail("prompt_template", "contains {image} but the model is text-only (image is null)");
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for numbers too large for a double
    throw std::runtime_error(fmt::format("{}: atman/config.json is not valid JSON ({})", origin, e.what()));
  }
  if (!root.is_object()) {
    throw std::runtime_error(fmt::format("{}: atman/config.json must be a JSON object", origin));
  }
  ConfigReader r(root, origin);
  ModelConfig c;
  c.contract = r.integer(root, "contract", "contract", 1, 1);
  c.name = r.string(root, "name", "name");
  if (c.name.empty()) r.fail("name", "must not be empty");
  // The name appears in messages that must stay one line.
  if (std::any_of(c.name.begin(), c.name.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; })) {
    r.fail("name", "must not contain control characters, got " + ConfigReader::shown(root["name"]));
  }
  c.vocab_size = r.integer(root, "vocab_size", "vocab_size", 1);
  c.hidden_size = r.integer(root, "hidden_size", "hidden_size", 1);
  c.num_layers = r.integer(root, "num_layers", "num_layers", 1);
  c.num_heads = r.integer(root, "num_heads", "num_heads", 1);
  if (root.contains("num_kv_heads") && !root["num_kv_heads"].is_null()) {
    c.num_kv_heads = r.integer(root, "num_kv_heads", "num_kv_heads", 1, c.num_heads);
    if (c.num_heads % *c.num_kv_heads != 0) {
      r.fail("num_kv_heads", fmt::format("must divide num_heads {}, got {}", c.num_heads, *c.num_kv_heads));
    }
  }
  if (root.contains("head_dim") && !root["head_dim"].is_null()) {
    c.head_dim = r.integer(root, "head_dim", "head_dim", 1, 65536);
  }
  c.max_positions = r.integer(root, "max_positions", "max_positions", 2);
  c.add_bos = r.boolean(root, "add_bos", "add_bos");
  c.bos_id = r.integer(root, "bos_id", "bos_id", 0, c.vocab_size - 1);
  if (root.contains("eos_id") && !root["eos_id"].is_null()) {
    c.eos_id = r.integer(root, "eos_id", "eos_id", 0, c.vocab_size - 1);
  }
  const json& image = r.get(root, "image", "image");
  if (!image.is_null()) c.image = parse_image_config(r, image);
  c.prompt_template = r.string(root, "prompt_template", "prompt_template");
  check_prompt_template(r, root["prompt_template"], c);
  if (c.image && c.image->patches() >= c.max_positions) {
    r.fail("image.grid", fmt::format("has {} patches, not fewer than max_positions {}", c.image->patches(),
                                     c.max_positions));
  }
  return c;
}

}  // namespace atman
