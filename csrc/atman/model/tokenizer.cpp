#include "atman/model/tokenizer.h"

#include <stdexcept>

#include <sentencepiece_processor.h>
#include <utf8.h>

namespace atman {

bool is_valid_utf8(const std::string& text) { return utf8::is_valid(text.begin(), text.end()); }

Tokenizer Tokenizer::from_serialized(const std::string& serialized_model, const std::string& origin) {
  if (serialized_model.empty()) {
    throw std::runtime_error(origin + ": atman/tokenizer.model is empty");
  }
  auto processor = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(serialized_model);
  if (!status.ok()) {
    throw std::runtime_error(origin + ": atman/tokenizer.model is not a valid sentencepiece model");
  }
  if (processor->GetPieceSize() <= 0) {
    throw std::runtime_error(origin + ": atman/tokenizer.model has no pieces");
  }
  Tokenizer tokenizer;
  tokenizer.processor_ = std::move(processor);
  tokenizer.origin_ = origin;
  return tokenizer;
}

namespace {
void check_loaded(const void* processor) {
  if (processor == nullptr) throw std::logic_error("Tokenizer: used before from_serialized");
}
}  // namespace

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  check_loaded(processor_.get());
  if (!is_valid_utf8(text)) {
    throw std::invalid_argument("text is not valid UTF-8");
  }
  std::vector<int> ids;
  const auto status = processor_->Encode(text, &ids);
  if (!status.ok()) {
    throw std::runtime_error(origin_ + ": sentencepiece could not encode the text (" + status.ToString() + ")");
  }
  return std::vector<int64_t>(ids.begin(), ids.end());
}

std::vector<TokenSpan> Tokenizer::encode_with_offsets(const std::string& text) const {
  check_loaded(processor_.get());
  if (!is_valid_utf8(text)) {
    throw std::invalid_argument("text is not valid UTF-8");
  }
  sentencepiece::ImmutableSentencePieceText spt;
  const auto status = processor_->Encode(text, spt.mutable_proto());
  if (!status.ok()) {
    throw std::runtime_error(origin_ + ": sentencepiece could not encode the text (" + status.ToString() + ")");
  }
  std::vector<TokenSpan> out;
  out.reserve(spt.pieces_size());
  for (const auto& piece : spt.pieces()) {
    out.push_back({static_cast<int64_t>(piece.id()), static_cast<int64_t>(piece.begin()),
                   static_cast<int64_t>(piece.end())});
  }
  return out;
}

std::string Tokenizer::piece(int64_t id) const {
  check_loaded(processor_.get());
  if (id < 0 || id >= vocab_size()) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the tokenizer's " +
                            std::to_string(vocab_size()) + " pieces");
  }
  return processor_->IdToPiece(static_cast<int>(id));
}

std::vector<std::string> Tokenizer::pieces(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(piece(id));
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::vector<int> narrow;
  narrow.reserve(ids.size());
  for (int64_t id : ids) {
    piece(id);  // range check
    narrow.push_back(static_cast<int>(id));
  }
  std::string text;
  const auto status = processor_->Decode(narrow, &text);
  if (!status.ok()) {
    throw std::runtime_error(origin_ + ": sentencepiece could not decode ids (" + status.ToString() + ")");
  }
  return text;
}

int64_t Tokenizer::vocab_size() const {
  check_loaded(processor_.get());
  return processor_->GetPieceSize();
}

bool Tokenizer::is_special(int64_t id) const {
  piece(id);
  const int narrow = static_cast<int>(id);
  return processor_->IsControl(narrow) || processor_->IsUnknown(narrow) || processor_->IsUnused(narrow);
}

}  // namespace atman
