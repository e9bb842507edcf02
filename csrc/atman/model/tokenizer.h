#pragma once
// The text side of a contract model: a sentencepiece model behind a small class.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace atman {

/// One token of Tokenizer::encode_with_offsets: its id and the byte range
/// [begin, end) of the encoded text it stands for (sentencepiece's
/// alignment; a "\u2581" word mark covers the space before the word).
struct TokenSpan {
  int64_t id = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

/// Usage:
///   Tokenizer tok = Tokenizer::from_serialized(bytes, "model.pt");
///   std::vector<int64_t> ids = tok.encode(" red");   // throws on invalid UTF-8
///   std::string piece = tok.piece(ids[0]);           // "▁red"
/// Copies share the (immutable) processor; all methods are const and thread-safe.
class Tokenizer {
 public:
  /// An empty tokenizer (every call throws); use from_serialized.
  Tokenizer() = default;
  /// Loads a serialized sentencepiece ModelProto; `origin` names the file in errors.
  static Tokenizer from_serialized(const std::string& serialized_model, const std::string& origin);

  /// Token ids of `text` (no BOS/EOS). Throws std::invalid_argument on invalid UTF-8.
  std::vector<int64_t> encode(const std::string& text) const;
  /// encode() with each token's byte range in `text` (same ids as encode()).
  std::vector<TokenSpan> encode_with_offsets(const std::string& text) const;
  /// The sentencepiece piece of `id` ("▁red", "<s>"); throws when out of range.
  std::string piece(int64_t id) const;
  std::vector<std::string> pieces(const std::vector<int64_t>& ids) const;
  /// Text of `ids` (control tokens dropped).
  std::string decode(const std::vector<int64_t>& ids) const;
  int64_t vocab_size() const;
  /// True for control/unknown ids (<s>, </s>, <unk>, <pad>).
  bool is_special(int64_t id) const;

 private:
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> processor_;
  std::string origin_;
};

/// True when `text` is valid UTF-8.
bool is_valid_utf8(const std::string& text);

}  // namespace atman
