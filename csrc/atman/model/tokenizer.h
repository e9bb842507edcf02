#pragma once
// The text side of a contract model: a sentencepiece model or a Hugging Face
// tokenizer.json behind one small class (docs/tokenizers.md).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace atman {

namespace detail {
class TokenizerBackend;
}

/// One token of Tokenizer::encode_with_offsets: its id and the byte range
/// [begin, end) of the encoded text it stands for (sentencepiece's
/// alignment; a "\u2581" word mark covers the space before the word).
struct TokenSpan {
  int64_t id = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

/// Usage:
///   Tokenizer tok = Tokenizer::from_serialized(bytes, "model.pt");     // sentencepiece
///   Tokenizer hf = Tokenizer::from_hf_json(json_text, "model.pt");     // tokenizer.json
///   std::vector<int64_t> ids = tok.encode(" red");   // throws on invalid UTF-8
///   std::string piece = tok.piece(ids[0]);           // "▁red"
///   std::string raw = hf.vocab_piece(id);            // "Ġred" (as in the vocabulary)
/// Copies share the (immutable) backend; all methods are const and thread-safe.
class Tokenizer {
 public:
  /// An empty tokenizer (every call throws); use from_serialized or from_hf_json.
  Tokenizer() = default;
  /// Loads a serialized sentencepiece ModelProto; `origin` names the file in errors.
  static Tokenizer from_serialized(const std::string& serialized_model, const std::string& origin);
  /// Loads the text of a Hugging Face tokenizer.json (BPE model; the supported
  /// components are listed in docs/tokenizers.md). Anything else is refused with
  /// one line naming `origin`, atman/tokenizer.json and the component.
  static Tokenizer from_hf_json(const std::string& json_text, const std::string& origin);

  /// Token ids of `text`. Never adds BOS/EOS or post-processor tokens; the text
  /// of added tokens ("<|im_start|>") becomes their id. Throws
  /// std::invalid_argument on invalid UTF-8.
  std::vector<int64_t> encode(const std::string& text) const;
  /// encode() with each token's byte range in `text` (same ids as encode()).
  std::vector<TokenSpan> encode_with_offsets(const std::string& text) const;
  /// The piece of `id` in sentencepiece's convention, as the rest of atman shows
  /// it: spaces as "\u2581" ("▁red", "<s>"), bytes that are not whole UTF-8
  /// characters as "<0xNN>"; throws when out of range.
  std::string piece(int64_t id) const;
  std::vector<std::string> pieces(const std::vector<int64_t>& ids) const;
  /// The string of `id` exactly as in the vocabulary ("Ġred" for byte-level
  /// BPE; the same as piece() for sentencepiece).
  std::string vocab_piece(int64_t id) const;
  /// Text of `ids` (control/special tokens dropped).
  std::string decode(const std::vector<int64_t>& ids) const;
  int64_t vocab_size() const;
  /// True for control/unknown ids (<s>, </s>, <unk>, <pad>) and for added
  /// tokens marked special in tokenizer.json.
  bool is_special(int64_t id) const;

 private:
  const detail::TokenizerBackend& backend() const;
  void check_id(int64_t id) const;

  std::shared_ptr<const detail::TokenizerBackend> backend_;
};

/// True when `text` is valid UTF-8.
bool is_valid_utf8(const std::string& text);

}  // namespace atman
