#include "token_documents.h"

namespace atman::runner {

nlohmann::json ids_document(const Tokenizer& tokenizer, const std::vector<int64_t>& ids) {
  std::vector<std::string> pieces;
  pieces.reserve(ids.size());
  for (int64_t id : ids) pieces.push_back(tokenizer.vocab_piece(id));
  return {{"ids", ids}, {"pieces", pieces}};
}

nlohmann::json prompt_document(const Model& model, const std::string& prompt, const PromptIds& ids) {
  const int64_t image_positions = model.has_image() ? model.config().image->patches() : 0;
  nlohmann::json doc = ids_document(model.tokenizer(), ids.ids);
  doc["prompt"] = prompt;
  doc["length"] = static_cast<int64_t>(ids.ids.size()) + image_positions;
  doc["max_positions"] = model.config().max_positions;
  if (image_positions > 0) {
    doc["image_index"] = ids.image_index;
    doc["image_positions"] = image_positions;
  }
  return doc;
}

}  // namespace atman::runner
