#pragma once
// tokenizer.json's added_tokens: matched in the text before anything else
// (leftmost, then longest), with their single_word / lstrip / rstrip /
// normalized flags; "special" ones are dropped by decode and are is_special.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace atman::hf {

class Normalizer;

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

/// A part of a text: an added token (id >= 0) or text between them (id -1).
struct Segment {
  size_t begin;
  size_t end;
  int32_t id;
};

/// Usage:
///   AddedTokens added(json["added_tokens"], normalizer.get());
///   for (Segment s : added.split(text, /*normalized=*/false)) { ... }
class AddedTokens {
 public:
  AddedTokens() = default;
  /// `normalizer` rewrites the content of tokens with normalized=true.
  AddedTokens(const nlohmann::json& list, const Normalizer* normalizer);

  /// Splits `text` at the tokens with normalized == `normalized`.
  std::vector<Segment> split(const std::string& text, bool normalized) const;
  /// The added token with `id`, or nullptr.
  const AddedToken* find(int64_t id) const;
  /// One more than the largest added id (0 when there are none).
  int64_t end_id() const { return end_id_; }
  bool has_normalized() const { return !tries_[1].nodes.empty(); }

 private:
  // A byte trie: edges keyed by (node << 8 | byte); `token` is an index into tokens_ or -1.
  struct Trie {
    std::unordered_map<uint64_t, int32_t> edges;
    std::vector<int32_t> nodes;  // token index per node (node 0: the root)
    void insert(const std::string& key, int32_t token);
    /// The token of the longest key that starts at text[pos], or -1; sets `end`.
    int32_t longest(const std::string& text, size_t pos, size_t* end) const;
  };

  std::vector<AddedToken> tokens_;
  std::vector<std::string> keys_;  // what is matched (content, normalized for normalized tokens)
  std::unordered_map<int64_t, size_t> by_id_;
  Trie tries_[2];  // [0]: matched in the original text, [1]: in the normalized text
  int64_t end_id_ = 0;
};

}  // namespace atman::hf
