#pragma once
// tokenizer.json pre-tokenizers: Split, ByteLevel, Metaspace, Sequence (null: none).

#include <memory>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "atman/model/hf_tokenizer/normalized_text.h"

namespace atman::hf {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  /// Splits (and, for ByteLevel, rewrites) each piece into the next list of
  /// pieces; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<NormalizedText>& pieces) const = 0;
  /// True for ByteLevel (or a Sequence holding one): pieces are byte-level text.
  virtual bool byte_level() const { return false; }
};

/// The pre-tokenizer of `config` ("pre_tokenizer"); nullptr for null. Throws
/// std::invalid_argument naming an unsupported type, behaviour or bad regex.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& config);

/// GPT-2's split pattern, used by ByteLevel with use_regex.
extern const char* const kGpt2Pattern;

}  // namespace atman::hf
