#include "atman/model/tokenizer.h"

#include <stdexcept>

#include <utf8.h>

#include "atman/model/hf_tokenizer/hf_tokenizer.h"
#include "atman/model/sentencepiece_backend.h"
#include "atman/model/tokenizer_backend.h"

namespace atman {

bool is_valid_utf8(const std::string& text) { return utf8::is_valid(text.begin(), text.end()); }

std::vector<int64_t> detail::TokenizerBackend::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const TokenSpan& span : encode_with_offsets(text)) ids.push_back(span.id);
  return ids;
}

Tokenizer Tokenizer::from_serialized(const std::string& serialized_model, const std::string& origin) {
  Tokenizer tokenizer;
  tokenizer.backend_ = detail::make_sentencepiece_backend(serialized_model, origin);
  return tokenizer;
}

Tokenizer Tokenizer::from_hf_json(const std::string& json_text, const std::string& origin) {
  Tokenizer tokenizer;
  tokenizer.backend_ = detail::make_hf_backend(json_text, origin);
  return tokenizer;
}

const detail::TokenizerBackend& Tokenizer::backend() const {
  if (backend_ == nullptr) throw std::logic_error("Tokenizer: used before from_serialized or from_hf_json");
  return *backend_;
}

void Tokenizer::check_id(int64_t id) const {
  const int64_t size = backend().vocab_size();
  if (id < 0 || id >= size) {
    throw std::out_of_range("token id " + std::to_string(id) + " is outside the tokenizer's " +
                            std::to_string(size) + " pieces");
  }
}

namespace {
void check_utf8(const std::string& text) {
  if (!is_valid_utf8(text)) throw std::invalid_argument("text is not valid UTF-8");
}
}  // namespace

std::vector<int64_t> Tokenizer::encode(const std::string& text) const {
  const detail::TokenizerBackend& b = backend();
  check_utf8(text);
  return b.encode(text);
}

std::vector<TokenSpan> Tokenizer::encode_with_offsets(const std::string& text) const {
  const detail::TokenizerBackend& b = backend();
  check_utf8(text);
  return b.encode_with_offsets(text);
}

std::string Tokenizer::piece(int64_t id) const {
  check_id(id);
  return backend_->piece(id);
}

std::string Tokenizer::vocab_piece(int64_t id) const {
  check_id(id);
  return backend_->vocab_piece(id);
}

std::vector<std::string> Tokenizer::pieces(const std::vector<int64_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(piece(id));
  return out;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  for (int64_t id : ids) check_id(id);
  return backend().decode(ids);
}

int64_t Tokenizer::vocab_size() const { return backend().vocab_size(); }

bool Tokenizer::is_special(int64_t id) const {
  check_id(id);
  return backend_->is_special(id);
}

}  // namespace atman
