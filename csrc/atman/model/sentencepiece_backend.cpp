#include "atman/model/sentencepiece_backend.h"

#include <stdexcept>

#include <sentencepiece_processor.h>

namespace atman::detail {
namespace {

class SentencepieceBackend final : public TokenizerBackend {
 public:
  SentencepieceBackend(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor, std::string origin)
      : processor_(std::move(processor)), origin_(std::move(origin)) {}

  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int> ids;
    const auto status = processor_->Encode(text, &ids);
    if (!status.ok()) {
      throw std::runtime_error(origin_ + ": sentencepiece could not encode the text (" + status.ToString() + ")");
    }
    return std::vector<int64_t>(ids.begin(), ids.end());
  }

  std::vector<TokenSpan> encode_with_offsets(const std::string& text) const override {
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

  std::string vocab_piece(int64_t id) const override { return processor_->IdToPiece(static_cast<int>(id)); }
  std::string piece(int64_t id) const override { return vocab_piece(id); }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<int> narrow(ids.begin(), ids.end());
    std::string text;
    const auto status = processor_->Decode(narrow, &text);
    if (!status.ok()) {
      throw std::runtime_error(origin_ + ": sentencepiece could not decode ids (" + status.ToString() + ")");
    }
    return text;
  }

  int64_t vocab_size() const override { return processor_->GetPieceSize(); }

  bool is_special(int64_t id) const override {
    const int narrow = static_cast<int>(id);
    return processor_->IsControl(narrow) || processor_->IsUnknown(narrow) || processor_->IsUnused(narrow);
  }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::string origin_;
};

}  // namespace

std::shared_ptr<const TokenizerBackend> make_sentencepiece_backend(const std::string& serialized_model,
                                                                   const std::string& origin) {
  if (serialized_model.empty()) {
    throw std::runtime_error(origin + ": atman/tokenizer.model is empty");
  }
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = processor->LoadFromSerializedProto(serialized_model);
  if (!status.ok()) {
    throw std::runtime_error(origin + ": atman/tokenizer.model is not a valid sentencepiece model");
  }
  if (processor->GetPieceSize() <= 0) {
    throw std::runtime_error(origin + ": atman/tokenizer.model has no pieces");
  }
  return std::make_shared<SentencepieceBackend>(std::move(processor), origin);
}

}  // namespace atman::detail
