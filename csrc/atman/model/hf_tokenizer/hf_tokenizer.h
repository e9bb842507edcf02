#pragma once
// Tokenizer backend over a Hugging Face tokenizer.json (atman/tokenizer.json):
// added tokens, normalizer, pre-tokenizer, BPE model and decoder, with the
// semantics of Hugging Face's `tokenizers` (docs/tokenizers.md).

#include <memory>
#include <string>

#include "atman/model/tokenizer_backend.h"

namespace atman::detail {

/// Parses `json_text`; anything unsupported is refused with one line
/// "<origin>: atman/tokenizer.json: <component and problem>".
std::shared_ptr<const TokenizerBackend> make_hf_backend(const std::string& json_text, const std::string& origin);

}  // namespace atman::detail
