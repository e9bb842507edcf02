#pragma once
// tokenizer.json normalizers: NFC, Replace, Prepend, Sequence (null: none).

#include <memory>

#include <nlohmann/json_fwd.hpp>

#include "atman/model/hf_tokenizer/normalized_text.h"

namespace atman::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  /// Rewrites `text` in place, keeping each byte's original range.
  virtual void normalize(NormalizedText& text) const = 0;
};

/// The normalizer of `config` (the value of tokenizer.json's "normalizer");
/// nullptr for null. Throws std::invalid_argument naming an unsupported type.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config);

/// NFC of `text` (utf8proc), for tests and for added tokens' content.
std::string nfc(const std::string& text);

}  // namespace atman::hf
