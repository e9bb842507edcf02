#pragma once
// Tokenizer backend over a serialized sentencepiece ModelProto (atman/tokenizer.model).

#include <memory>
#include <string>

#include "atman/model/tokenizer_backend.h"

namespace atman::detail {

/// Loads `serialized_model`; errors name `origin` and atman/tokenizer.model.
std::shared_ptr<const TokenizerBackend> make_sentencepiece_backend(const std::string& serialized_model,
                                                                   const std::string& origin);

}  // namespace atman::detail
