#include "atman/model/hf_tokenizer/hf_tokenizer.h"

#include <cstdio>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/added_tokens.h"
#include "atman/model/hf_tokenizer/bpe.h"
#include "atman/model/hf_tokenizer/byte_level.h"
#include "atman/model/hf_tokenizer/decoders.h"
#include "atman/model/hf_tokenizer/normalizers.h"
#include "atman/model/hf_tokenizer/pre_tokenizers.h"

namespace atman::detail {
namespace {

using nlohmann::json;
using namespace atman::hf;

const char* const kSpaceMark = "\xe2\x96\x81";  // U+2581, sentencepiece's word mark

// Text in sentencepiece's convention: spaces as U+2581, bytes that are not
// whole UTF-8 characters as <0xNN>.
std::string sentencepiece_form(const std::string& bytes) {
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    size_t n = utf8_length(c);
    bool valid = (n > 1 || c < 0x80) && i + n <= bytes.size();
    for (size_t k = 1; valid && k < n; ++k) valid = (static_cast<unsigned char>(bytes[i + k]) & 0xC0) == 0x80;
    if (valid && n > 1) {
      size_t len = 0;
      const char32_t cp = decode_utf8(bytes, i, &len);
      valid = !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF && ((n == 2 && cp >= 0x80) || (n == 3 && cp >= 0x800) || (n == 4 && cp >= 0x10000));
    }
    if (!valid) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", c);
      out += hex;
      ++i;
    } else if (c == ' ') {
      out += kSpaceMark;
      ++i;
    } else {
      out.append(bytes, i, n);
      i += n;
    }
  }
  return out;
}

bool json_has_type(const json& config, const char* type) {
  if (!config.is_object()) return false;
  if (config.value("type", std::string()) == type) return true;
  for (const char* list : {"pretokenizers", "decoders"}) {
    const auto it = config.find(list);
    if (it != config.end() && it->is_array()) {
      for (const json& item : *it) {
        if (json_has_type(item, type)) return true;
      }
    }
  }
  return false;
}

class HfTokenizer final : public TokenizerBackend {
 public:
  explicit HfTokenizer(const json& root) {
    if (!root.is_object()) throw std::invalid_argument("the top level must be an object");
    const auto model = root.find("model");
    if (model == root.end() || !model->is_object()) throw std::invalid_argument("\"model\" is missing");
    bpe_ = std::make_unique<Bpe>(*model);
    normalizer_ = make_normalizer(root.value("normalizer", json()));
    pre_tokenizer_ = make_pre_tokenizer(root.value("pre_tokenizer", json()));
    decoder_ = make_decoder(root.value("decoder", json()));
    added_ = AddedTokens(root.value("added_tokens", json()), normalizer_.get());
    byte_level_ = (pre_tokenizer_ && pre_tokenizer_->byte_level()) || json_has_type(root.value("decoder", json()), "ByteLevel");
    size_ = std::max(bpe_->size(), added_.end_id());
    if (size_ == 0) throw std::invalid_argument("the vocabulary is empty");
  }

  std::vector<TokenSpan> encode_with_offsets(const std::string& text) const override {
    std::vector<TokenSpan> out;
    for (const Segment& seg : added_.split(text, false)) {
      if (seg.id >= 0) {
        out.push_back({seg.id, static_cast<int64_t>(seg.begin), static_cast<int64_t>(seg.end)});
        continue;
      }
      NormalizedText part = NormalizedText::original(text, seg.begin, seg.end);
      if (normalizer_) normalizer_->normalize(part);
      if (!added_.has_normalized()) {
        encode_part(std::move(part), out);
        continue;
      }
      for (const Segment& sub : added_.split(part.text, true)) {
        if (sub.id >= 0) {
          const Span span = part.original_span(sub.begin, sub.end);
          out.push_back({sub.id, span.begin, span.end});
        } else {
          encode_part(part.slice(sub.begin, sub.end), out);
        }
      }
    }
    return out;
  }

  std::string vocab_piece(int64_t id) const override {
    if (const AddedToken* token = added_.find(id)) return token->content;
    return bpe_->piece_of(id);
  }

  std::string piece(int64_t id) const override {
    if (const AddedToken* token = added_.find(id)) return sentencepiece_form(token->content);
    const std::string& raw = bpe_->piece_of(id);
    std::string bytes;
    if (byte_level_ && byte_level_to_bytes(raw, &bytes)) return sentencepiece_form(bytes);
    std::string out;
    for (char c : raw) {
      if (c == ' ') {
        out += kSpaceMark;
      } else {
        out += c;
      }
    }
    return out;
  }

  std::string decode(const std::vector<int64_t>& ids) const override {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int64_t id : ids) {
      const AddedToken* token = added_.find(id);
      if (token != nullptr) {
        if (!token->special) tokens.push_back(token->content);
        continue;
      }
      const std::string& piece = bpe_->piece_of(id);
      if (!piece.empty()) tokens.push_back(piece);
    }
    return decode_tokens(decoder_.get(), std::move(tokens));
  }

  int64_t vocab_size() const override { return size_; }

  bool is_special(int64_t id) const override {
    const AddedToken* token = added_.find(id);
    return token != nullptr && token->special;
  }

 private:
  void encode_part(NormalizedText part, std::vector<TokenSpan>& out) const {
    if (part.empty()) return;
    std::vector<NormalizedText> words;
    words.push_back(std::move(part));
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(words);
    for (const NormalizedText& word : words) {
      size_t at = 0;
      for (const WordToken& token : bpe_->tokenize(word.text)) {
        const Span span = word.original_span(at, at + static_cast<size_t>(token.length));
        out.push_back({token.id, span.begin, span.end});
        at += static_cast<size_t>(token.length);
      }
    }
  }

  std::unique_ptr<Bpe> bpe_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  AddedTokens added_;
  bool byte_level_ = false;
  int64_t size_ = 0;
};

}  // namespace

std::shared_ptr<const TokenizerBackend> make_hf_backend(const std::string& json_text, const std::string& origin) {
  const std::string where = origin + ": atman/tokenizer.json";
  if (json_text.empty()) throw std::runtime_error(where + " is empty");
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw std::runtime_error(where + " is not valid JSON (" + e.what() + ")");
  }
  try {
    return std::make_shared<HfTokenizer>(root);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(where + ": " + e.what());
  } catch (const json::exception& e) {
    throw std::runtime_error(where + ": malformed (" + e.what() + ")");
  }
}

}  // namespace atman::detail
