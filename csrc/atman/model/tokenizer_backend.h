#pragma once
// The internal interface behind atman::Tokenizer: one implementation per
// tokenizer format (sentencepiece_backend.h, hf_tokenizer/hf_tokenizer.h).
// Not part of the public API; include tokenizer.h instead.

#include <cstdint>
#include <string>
#include <vector>

#include "atman/model/tokenizer.h"

namespace atman::detail {

/// One tokenizer format. Ids passed in are already range-checked by Tokenizer;
/// text passed in is valid UTF-8. Implementations are immutable after loading
/// and their methods are safe to call from several threads.
class TokenizerBackend {
 public:
  virtual ~TokenizerBackend() = default;
  virtual std::vector<TokenSpan> encode_with_offsets(const std::string& text) const = 0;
  virtual std::vector<int64_t> encode(const std::string& text) const;
  virtual std::string vocab_piece(int64_t id) const = 0;
  virtual std::string piece(int64_t id) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual bool is_special(int64_t id) const = 0;
};

}  // namespace atman::detail
