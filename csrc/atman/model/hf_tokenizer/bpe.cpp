#include "atman/model/hf_tokenizer/bpe.h"

#include <cstdio>
#include <mutex>
#include <queue>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/normalized_text.h"

namespace atman::hf {
namespace {

using nlohmann::json;

constexpr size_t kCacheEntries = 1 << 16;  // words cached at most
constexpr size_t kCachedWordBytes = 256;   // longer words are not cached

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

std::string optional_string(const json& model, const char* key) {
  const auto it = model.find(key);
  if (it == model.end() || it->is_null()) return {};
  if (!it->is_string()) throw std::invalid_argument(std::string("model BPE: \"") + key + "\" must be a string or null");
  return it->get<std::string>();
}

bool optional_bool(const json& model, const char* key) {
  const auto it = model.find(key);
  if (it == model.end() || it->is_null()) return false;
  if (!it->is_boolean()) throw std::invalid_argument(std::string("model BPE: \"") + key + "\" must be true or false");
  return it->get<bool>();
}

struct Symbol {
  int32_t id;
  int32_t length;
  int32_t prev;
  int32_t next;
};

struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t merged;
  bool operator<(const Candidate& other) const {  // priority_queue: lowest rank, then leftmost, first
    return rank != other.rank ? rank > other.rank : pos > other.pos;
  }
};

}  // namespace

Bpe::Bpe(const json& model) {
  const auto type = model.find("type");
  if (type != model.end() && (!type->is_string() || type->get<std::string>() != "BPE")) {
    throw std::invalid_argument("model type " + type->dump() + " is not supported (supported: BPE)");
  }
  const auto dropout = model.find("dropout");
  if (dropout != model.end() && !dropout->is_null()) {
    throw std::invalid_argument("model BPE: dropout " + dropout->dump() + " is not supported (must be null)");
  }
  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) {
    throw std::invalid_argument("model BPE: \"vocab\" must be an object of piece: id");
  }
  int64_t max_id = -1;
  vocab_.reserve(vocab->size());
  for (const auto& [piece, id] : vocab->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 31)) {
      throw std::invalid_argument("model BPE: vocabulary id of " + json(piece).dump() + " must be an integer >= 0, got " +
                                  id.dump());
    }
    vocab_[piece] = static_cast<int32_t>(id.get<int64_t>());
    max_id = std::max<int64_t>(max_id, id.get<int64_t>());
  }
  pieces_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [piece, id] : vocab_) pieces_[static_cast<size_t>(id)] = piece;

  prefix_ = optional_string(model, "continuing_subword_prefix");
  suffix_ = optional_string(model, "end_of_word_suffix");
  fuse_unk_ = optional_bool(model, "fuse_unk");
  byte_fallback_ = optional_bool(model, "byte_fallback");
  ignore_merges_ = optional_bool(model, "ignore_merges");
  const std::string unk = optional_string(model, "unk_token");
  if (!unk.empty()) {
    unk_id_ = id_of(unk);
    if (unk_id_ < 0) throw std::invalid_argument("model BPE: unk_token " + json(unk).dump() + " is not in the vocabulary");
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = id_of(name);
  }

  const auto merges = model.find("merges");
  if (merges == model.end() || merges->is_null()) return;
  if (!merges->is_array()) throw std::invalid_argument("model BPE: \"merges\" must be a list");
  merges_.reserve(merges->size());
  int32_t rank = 0;
  for (const json& merge : *merges) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string line = merge.get<std::string>();
      const size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        throw std::invalid_argument("model BPE: merge " + std::to_string(rank) + " " + merge.dump() +
                                    " is not two pieces separated by one space");
      }
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      throw std::invalid_argument("model BPE: merge " + std::to_string(rank) + " must be \"a b\" or [\"a\", \"b\"], got " +
                                  merge.dump().substr(0, 60));
    }
    const int32_t left_id = id_of(left);
    const int32_t right_id = id_of(right);
    for (const auto& [name, id] : {std::make_pair(left, left_id), std::make_pair(right, right_id)}) {
      if (id < 0) {
        throw std::invalid_argument("model BPE: merge " + std::to_string(rank) + " " + merge.dump() + " names " +
                                    json(name).dump() + ", which is not in the vocabulary");
      }
    }
    if (right.compare(0, prefix_.size(), prefix_) != 0 && !prefix_.empty()) {
      throw std::invalid_argument("model BPE: merge " + std::to_string(rank) + " " + merge.dump() +
                                  ": the right piece lacks continuing_subword_prefix " + json(prefix_).dump());
    }
    const std::string merged = left + right.substr(prefix_.size());
    const int32_t merged_id = id_of(merged);
    if (merged_id < 0) {
      throw std::invalid_argument("model BPE: merge " + std::to_string(rank) + " " + merge.dump() + " makes " +
                                  json(merged).dump() + ", which is not in the vocabulary");
    }
    merges_[pair_key(left_id, right_id)] = {rank, merged_id};
    ++rank;
  }
}

Bpe::~Bpe() = default;

int32_t Bpe::id_of(const std::string& piece) const {
  const auto it = vocab_.find(piece);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string& Bpe::piece_of(int64_t id) const {
  static const std::string kNone;
  if (id < 0 || id >= size()) return kNone;
  return pieces_[static_cast<size_t>(id)];
}

std::vector<WordToken> Bpe::tokenize(const std::string& word) const {
  if (word.empty()) return {};
  if (ignore_merges_) {
    const int32_t id = id_of(word);
    if (id >= 0) return {{id, static_cast<int32_t>(word.size())}};
  }
  const bool cacheable = word.size() < kCachedWordBytes;
  if (cacheable) {
    std::shared_lock<std::shared_mutex> lock(cache_mutex_);
    const auto it = cache_.find(word);
    if (it != cache_.end()) return it->second;
  }
  std::vector<WordToken> tokens = merge_word(word);
  if (cacheable) {
    std::unique_lock<std::shared_mutex> lock(cache_mutex_);
    if (cache_.size() < kCacheEntries) cache_.emplace(word, tokens);
  }
  return tokens;
}

std::vector<WordToken> Bpe::merge_word(const std::string& word) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id, int32_t length) {
    const auto n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, length, n - 1, n + 1});
  };
  int32_t pending_unk_length = 0;  // bytes of an unknown run not yet added
  auto flush_unk = [&] {
    if (pending_unk_length > 0) add(unk_id_, pending_unk_length);
    pending_unk_length = 0;
  };
  std::string s;
  for (size_t i = 0; i < word.size();) {
    const size_t n = std::min(utf8_length(static_cast<unsigned char>(word[i])), word.size() - i);
    const bool first = i == 0;
    const bool last = i + n == word.size();
    s.assign(first ? std::string() : prefix_);
    s.append(word, i, n);
    if (last) s += suffix_;
    const auto length = static_cast<int32_t>(n);
    i += n;
    const int32_t id = id_of(s);
    if (id >= 0) {
      flush_unk();
      add(id, length);
      continue;
    }
    if (byte_fallback_) {
      bool all = true;
      for (char c : s) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : s) add(byte_ids_[static_cast<unsigned char>(c)], 1);
        continue;
      }
    }
    if (unk_id_ >= 0) {
      if (pending_unk_length > 0 && !fuse_unk_) flush_unk();
      pending_unk_length += length;
    }
  }
  flush_unk();
  if (!symbols.empty()) symbols.back().next = -1;

  std::priority_queue<Candidate> queue;
  auto consider = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    const auto it = merges_.find(pair_key(symbols[pos].id, symbols[next].id));
    if (it != merges_.end()) queue.push({it->second.first, pos, it->second.second});
  };
  for (int32_t p = 0; p + 1 < static_cast<int32_t>(symbols.size()); ++p) consider(p);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.length == 0 || left.next < 0) continue;
    const Symbol right = symbols[left.next];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.second != top.merged) continue;
    symbols[left.next].length = 0;
    left.id = top.merged;
    left.length += right.length;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (left.prev >= 0) consider(left.prev);
    consider(top.pos);
  }
  std::vector<WordToken> out;
  for (const Symbol& sym : symbols) {
    if (sym.length > 0) out.push_back({sym.id, sym.length});
  }
  return out;
}

}  // namespace atman::hf
