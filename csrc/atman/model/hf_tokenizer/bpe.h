#pragma once
// The BPE model of tokenizer.json: vocabulary, ranked merges, ignore_merges,
// byte_fallback ("<0xNN>"), unk_token with fuse_unk, continuing_subword_prefix,
// end_of_word_suffix. Words are cached (thread-safe).

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace atman::hf {

/// One token of a word: its id and how many bytes of the word it covers.
struct WordToken {
  int32_t id;
  int32_t length;
};

/// Usage:
///   Bpe bpe(tokenizer_json["model"]);       // std::invalid_argument when unsupported
///   std::vector<WordToken> t = bpe.tokenize("Ġred");
class Bpe {
 public:
  explicit Bpe(const nlohmann::json& model);
  ~Bpe();

  /// The tokens of one pre-tokenized word (empty for "").
  std::vector<WordToken> tokenize(const std::string& word) const;
  /// The id of `piece` in the vocabulary, or -1.
  int32_t id_of(const std::string& piece) const;
  /// The vocabulary's piece for `id` ("" when the vocabulary has no such id).
  const std::string& piece_of(int64_t id) const;
  /// One more than the largest id of the vocabulary.
  int64_t size() const { return static_cast<int64_t>(pieces_.size()); }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  std::vector<WordToken> merge_word(const std::string& word) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> pieces_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left, right) -> (rank, merged id)
  int32_t unk_id_ = -1;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::string prefix_;
  std::string suffix_;
  int32_t byte_ids_[256];

  mutable std::shared_mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<WordToken>> cache_;
};

}  // namespace atman::hf
