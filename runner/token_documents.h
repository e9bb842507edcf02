#pragma once
// The JSON documents of tokens that `atman tokenize --json` prints and the
// service's /v1/tokenize returns: the same fields from one place.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "atman/model/model.h"
#include "atman/model/sequence.h"

namespace atman::runner {

/// {"ids": [...], "pieces": [...]}: each id with its vocabulary piece
/// (Hugging Face's convert_ids_to_tokens: "Ġred", "▁red").
nlohmann::json ids_document(const Tokenizer& tokenizer, const std::vector<int64_t>& ids);

/// ids_document of a prompt's text tokens, with the prompt, the sequence's
/// length before the target (image positions included), max_positions, and
/// for an image model where the image stands (image_index, image_positions).
nlohmann::json prompt_document(const Model& model, const std::string& prompt, const PromptIds& ids);

}  // namespace atman::runner
