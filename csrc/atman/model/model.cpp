#include "atman/model/model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>
#include <torch/script.h>

#include "atman/base/text.h"
#include "atman/model/method_checks.h"

namespace atman {
namespace {

void check_method(const torch::jit::Module& module, const std::string& path, const std::string& name,
                  size_t arguments, const std::string& signature) {
  auto method = module.find_method(name);
  if (!method) {
    throw std::runtime_error(fmt::format(
        "{}: not an explainable model: it has no method {}{} (docs/contract.md)", path, name, signature));
  }
  const size_t got = method->function().getSchema().arguments().size() - 1;  // minus self
  if (got != arguments) {
    throw std::runtime_error(fmt::format("{}: not an explainable model: method {} takes {} argument(s), the "
                                         "contract needs {}{}",
                                         path, name, got, name, signature));
  }
}

bool has_method(const torch::jit::Module& module, const std::string& name) {
  return module.find_method(name).has_value();
}

at::Tensor call_tensor(torch::jit::Module& module, const std::string& path, const std::string& name,
                       std::vector<c10::IValue> args) {
  c10::IValue out;
  try {
    out = module.get_method(name)(std::move(args));
  } catch (const c10::Error& e) {
    throw std::runtime_error(fmt::format("{}: method {} failed: {}", path, name, first_line(e.what_without_backtrace())));
  }
  if (!out.isTensor()) {
    throw std::runtime_error(fmt::format("{}: method {} returned {}, expected a tensor", path, name,
                                         out.tagKind()));
  }
  return out.toTensor();
}

void check_output(const at::Tensor& out, const std::string& path, const std::string& name,
                  const std::vector<int64_t>& expected) {
  check_method_output(out, path, name, at::kFloat, expected);
}

// A path that can be a model file: present, a regular file (devices and pipes
// could block or never end: /dev/zero), not empty, readable.
void check_model_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw std::runtime_error(path + ": model file not found");
  if (fs::is_directory(path, ec)) throw std::runtime_error(path + ": model path is a directory, not a .pt file");
  if (!fs::is_regular_file(path, ec)) throw std::runtime_error(path + ": model path is not a regular file");
  if (fs::file_size(path, ec) == 0) throw std::runtime_error(path + ": model file is empty");
  std::ifstream probe(path, std::ios::binary);
  if (!probe) throw std::runtime_error(path + ": model file cannot be read");
}

// The TorchScript module and its extra files (filled in `extra`), in eval mode.
std::unique_ptr<torch::jit::Module> load_module(const std::string& path,
                                                std::unordered_map<std::string, std::string>& extra) {
  auto module = std::make_unique<torch::jit::Module>();
  try {
    *module = torch::jit::load(path, c10::Device(c10::kCPU), extra);
  } catch (const c10::Error& e) {
    const std::string why = first_line(e.what_without_backtrace());
    if (why.find("hasRecord") != std::string::npos) {
      throw std::runtime_error(path + ": not a TorchScript model (a zip archive without TorchScript's records)");
    }
    throw std::runtime_error(fmt::format("{}: not a TorchScript model ({})", path, why));
  } catch (const std::exception& e) {
    throw std::runtime_error(fmt::format("{}: not a TorchScript model ({})", path, first_line(e.what())));
  }
  module->eval();
  return module;
}

const std::string& required_extra(const std::unordered_map<std::string, std::string>& extra, const std::string& name,
                                  const std::string& path) {
  const std::string& text = extra.at(name);
  if (text.empty()) {
    throw std::runtime_error(fmt::format(
        "{}: not an explainable model: the extra file {} is missing or empty (docs/contract.md)", path, name));
  }
  return text;
}

}  // namespace

std::shared_ptr<Model> Model::load(const std::string& path) {
  check_model_path(path);
  std::unordered_map<std::string, std::string> extra{
      {"atman/config.json", ""}, {"atman/tokenizer.model", ""}, {"atman/tokenizer.json", ""}};
  std::unique_ptr<torch::jit::Module> module = load_module(path, extra);

  std::shared_ptr<Model> model(new Model());
  model->path_ = path;
  const std::string& config_text = required_extra(extra, "atman/config.json", path);
  // Exactly one tokenizer: sentencepiece (atman/tokenizer.model) or Hugging Face (atman/tokenizer.json).
  const std::string& sentencepiece_bytes = extra.at("atman/tokenizer.model");
  const std::string& hf_json = extra.at("atman/tokenizer.json");
  if (!sentencepiece_bytes.empty() && !hf_json.empty()) {
    throw std::runtime_error(fmt::format(
        "{}: the extra files atman/tokenizer.model and atman/tokenizer.json are both present; a model carries "
        "exactly one tokenizer (docs/contract.md)",
        path));
  }
  if (sentencepiece_bytes.empty() && hf_json.empty()) {
    throw std::runtime_error(fmt::format(
        "{}: not an explainable model: the extra file atman/tokenizer.model (or atman/tokenizer.json) is missing or "
        "empty (docs/contract.md)",
        path));
  }
  const char* tokenizer_file = hf_json.empty() ? "atman/tokenizer.model" : "atman/tokenizer.json";
  model->config_ = parse_model_config(config_text, path);
  model->tokenizer_ = hf_json.empty() ? Tokenizer::from_serialized(sentencepiece_bytes, path)
                                      : Tokenizer::from_hf_json(hf_json, path);
  if (model->tokenizer_.vocab_size() > model->config_.vocab_size) {
    throw std::runtime_error(fmt::format("{}: {} has {} pieces, more than vocab_size {}", path, tokenizer_file,
                                         model->tokenizer_.vocab_size(), model->config_.vocab_size));
  }
  if (model->config_.bos_id >= model->tokenizer_.vocab_size()) {
    throw std::runtime_error(fmt::format("{}: bos_id {} is outside the tokenizer's {} pieces", path,
                                         model->config_.bos_id, model->tokenizer_.vocab_size()));
  }
  check_method(*module, path, "embed_text", 1, "(ids)");
  check_method(*module, path, "embed_image", 1, "(pixels)");
  check_method(*module, path, "forward", 2, "(embeddings, attention_modifier)");

  ModelCapabilities& caps = model->capabilities_;
  caps.hidden_states = has_method(*module, "hidden_states");
  caps.lm_head = has_method(*module, "lm_head");
  caps.prefix_cache = has_method(*module, "prefix_cache");
  caps.hidden_states_from_cache = has_method(*module, "hidden_states_from_cache");
  caps.forward_with_attentions = has_method(*module, "forward_with_attentions");
  caps.step_from_cache = has_method(*module, "step_from_cache");
  if (caps.step_from_cache) check_method(*module, path, "step_from_cache", 3, "(embeddings, cache, attention_modifier)");
  caps.forward_additive = has_method(*module, "forward_additive");
  if (caps.forward_additive) check_method(*module, path, "forward_additive", 2, "(embeddings, attention_bias)");
  caps.hidden_states_additive = has_method(*module, "hidden_states_additive");
  if (caps.hidden_states_additive) {
    check_method(*module, path, "hidden_states_additive", 2, "(embeddings, attention_bias)");
  }
  caps.hidden_states_from_cache_additive = has_method(*module, "hidden_states_from_cache_additive");
  if (caps.hidden_states_from_cache_additive) {
    check_method(*module, path, "hidden_states_from_cache_additive", 3, "(embeddings, cache, attention_bias)");
  }
  caps.forward_lrp = has_method(*module, "forward_lrp");
  if (caps.forward_lrp) check_method(*module, path, "forward_lrp", 1, "(embeddings)");
  model->module_ = std::move(module);
  return model;
}

Model::~Model() = default;

torch::jit::Module& Model::module() const { return *module_; }

at::Tensor Model::embed_text(const at::Tensor& ids) const {
  TORCH_CHECK(ids.dim() == 2 && ids.scalar_type() == at::kLong, "embed_text: expected int64 [B, T] ids, got ",
              ids.scalar_type(), " ", ids.sizes());
  at::Tensor out = call_tensor(*module_, path_, "embed_text", {ids});
  check_output(out, path_, "embed_text", {ids.size(0), ids.size(1), config_.hidden_size});
  return out;
}

at::Tensor Model::embed_image(const at::Tensor& pixels) const {
  if (!config_.image) {
    throw std::invalid_argument(path_ + ": model " + config_.name + " is text-only (config image is null)");
  }
  const ImageConfig& ic = *config_.image;
  TORCH_CHECK(pixels.dim() == 4 && pixels.size(1) == 3 && pixels.scalar_type() == at::kFloat,
              "embed_image: expected float32 [B, 3, H, W] pixels, got ", pixels.scalar_type(), " ",
              pixels.sizes());
  at::Tensor out = call_tensor(*module_, path_, "embed_image", {pixels});
  check_output(out, path_, "embed_image", {pixels.size(0), ic.patches(), config_.hidden_size});
  return out;
}

at::Tensor Model::forward(const at::Tensor& embeddings, const at::Tensor& modifier) const {
  check_forward_inputs(embeddings, modifier);
  at::Tensor out = call_tensor(*module_, path_, "forward", {embeddings, modifier});
  check_output(out, path_, "forward", forward_shape(config_, modifier));
  return out;
}

at::Tensor Model::hidden_states(const at::Tensor& embeddings, const at::Tensor& modifier) const {
  check_has_method(*this, capabilities_.hidden_states, "hidden_states");
  at::Tensor out = call_tensor(*module_, path_, "hidden_states", {embeddings, modifier});
  check_output(out, path_, "hidden_states", hidden_states_shape(config_, modifier));
  return out;
}

at::Tensor Model::lm_head(const at::Tensor& hidden) const {
  check_has_method(*this, capabilities_.lm_head, "lm_head");
  at::Tensor out = call_tensor(*module_, path_, "lm_head", {hidden});
  check_output(out, path_, "lm_head", lm_head_shape(config_, hidden));
  return out;
}

at::Tensor Model::prefix_cache(const at::Tensor& embeddings) const {
  check_has_method(*this, capabilities_.prefix_cache, "prefix_cache");
  at::Tensor out = call_tensor(*module_, path_, "prefix_cache", {embeddings});
  check_output(out, path_, "prefix_cache", prefix_cache_shape(config_, embeddings));
  return out;
}

at::Tensor Model::hidden_states_from_cache(const at::Tensor& embeddings, const at::Tensor& cache,
                                           const at::Tensor& modifier) const {
  check_has_method(*this, capabilities_.hidden_states_from_cache, "hidden_states_from_cache");
  at::Tensor out = call_tensor(*module_, path_, "hidden_states_from_cache", {embeddings, cache, modifier});
  check_output(out, path_, "hidden_states_from_cache", hidden_states_from_cache_shape(config_, embeddings, modifier));
  return out;
}

at::Tensor Model::forward_lrp(const at::Tensor& embeddings) const {
  check_has_method(*this, capabilities_.forward_lrp, "forward_lrp");
  TORCH_CHECK(embeddings.dim() == 3, "forward_lrp: expected embeddings [B, S, D], got ", embeddings.sizes());
  at::Tensor out = call_tensor(*module_, path_, "forward_lrp", {embeddings});
  check_output(out, path_, "forward_lrp", {embeddings.size(0), embeddings.size(1), config_.vocab_size});
  return out;
}

std::pair<at::Tensor, at::Tensor> Model::step_from_cache(const at::Tensor& embeddings, const at::Tensor& cache,
                                                         const at::Tensor& modifier) const {
  TORCH_CHECK(capabilities_.step_from_cache, path_, ": model has no step_from_cache method");
  TORCH_CHECK(embeddings.dim() == 3 && embeddings.size(0) == 1 && cache.dim() == 5 && modifier.dim() == 2 &&
                  modifier.size(0) == 1 && modifier.size(1) == cache.size(3) + embeddings.size(1),
              "step_from_cache: expected embeddings [1, S2, D], cache [L, 2, Hkv, P, dh] and modifier [1, P+S2], got ",
              embeddings.sizes(), ", ", cache.sizes(), " and ", modifier.sizes());
  c10::IValue out;
  try {
    out = module_->get_method("step_from_cache")({embeddings, cache, modifier});
  } catch (const c10::Error& e) {
    throw std::runtime_error(
        fmt::format("{}: method step_from_cache failed: {}", path_, first_line(e.what_without_backtrace())));
  }
  if (!out.isTuple() || out.toTupleRef().elements().size() != 2 || !out.toTupleRef().elements()[0].isTensor() ||
      !out.toTupleRef().elements()[1].isTensor()) {
    throw std::runtime_error(fmt::format("{}: method step_from_cache returned {}, expected (hidden, cache)", path_,
                                         out.tagKind()));
  }
  const at::Tensor hidden = out.toTupleRef().elements()[0].toTensor();
  const at::Tensor extended = out.toTupleRef().elements()[1].toTensor();
  check_output(hidden, path_, "step_from_cache (hidden)", {1, embeddings.size(1), config_.hidden_size});
  check_output(extended, path_, "step_from_cache (cache)",
               {config_.num_layers, 2, config_.kv_heads(), modifier.size(1), cache.size(4)});
  return {hidden, extended};
}

at::Tensor Model::empty_cache() const {
  return at::zeros({config_.num_layers, 2, config_.kv_heads(), 0, config_.head_width()},
                   at::kFloat);
}

}  // namespace atman
