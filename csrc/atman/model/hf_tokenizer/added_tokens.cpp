#include "atman/model/hf_tokenizer/added_tokens.h"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/normalized_text.h"
#include "atman/model/hf_tokenizer/normalizers.h"

namespace atman::hf {
namespace {

using nlohmann::json;

// A "word" character for single_word: a letter, a number or '_' (a regex \w).
bool is_word_char(char32_t cp) { return cp == U'_' || is_unicode_alphanumeric(cp); }

char32_t last_char(const std::string& text, size_t end) {
  size_t start = end;
  do {
    --start;
  } while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80);
  size_t n = 0;
  return decode_utf8(text, start, &n);
}

bool flag(const json& token, const char* key, bool fallback) {
  const auto it = token.find(key);
  if (it == token.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw std::invalid_argument(std::string("added_tokens: \"") + key + "\" must be true or false");
  return it->get<bool>();
}

}  // namespace

void AddedTokens::Trie::insert(const std::string& key, int32_t token) {
  if (nodes.empty()) nodes.push_back(-1);
  int32_t node = 0;
  for (char c : key) {
    const uint64_t edge = (static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(c);
    const auto it = edges.find(edge);
    if (it != edges.end()) {
      node = it->second;
    } else {
      const auto next = static_cast<int32_t>(nodes.size());
      nodes.push_back(-1);
      edges.emplace(edge, next);
      node = next;
    }
  }
  nodes[static_cast<size_t>(node)] = token;
}

int32_t AddedTokens::Trie::longest(const std::string& text, size_t pos, size_t* end) const {
  int32_t best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto it = edges.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges.end()) break;
    node = it->second;
    if (nodes[static_cast<size_t>(node)] >= 0) {
      best = nodes[static_cast<size_t>(node)];
      *end = i + 1;
    }
  }
  return best;
}

AddedTokens::AddedTokens(const json& list, const Normalizer* normalizer) {
  if (list.is_null()) return;
  if (!list.is_array()) throw std::invalid_argument("\"added_tokens\" must be a list");
  for (const json& item : list) {
    if (!item.is_object() || !item.contains("id") || !item["id"].is_number_integer() || item["id"].get<int64_t>() < 0 ||
        !item.contains("content") || !item["content"].is_string()) {
      throw std::invalid_argument("added_tokens: each entry needs an integer \"id\" >= 0 and a string \"content\", got " +
                                  item.dump().substr(0, 80));
    }
    AddedToken token;
    token.id = static_cast<int32_t>(item["id"].get<int64_t>());
    token.content = item["content"].get<std::string>();
    token.single_word = flag(item, "single_word", false);
    token.lstrip = flag(item, "lstrip", false);
    token.rstrip = flag(item, "rstrip", false);
    token.special = flag(item, "special", false);
    token.normalized = flag(item, "normalized", !token.special);
    if (token.content.empty()) throw std::invalid_argument("added_tokens: token " + std::to_string(token.id) + " is empty");
    std::string key = token.content;
    if (token.normalized && normalizer != nullptr) {
      NormalizedText t = NormalizedText::original(key, 0, key.size());
      normalizer->normalize(t);
      key = t.text;
    }
    const auto index = static_cast<int32_t>(tokens_.size());
    by_id_[token.id] = tokens_.size();
    end_id_ = std::max<int64_t>(end_id_, int64_t{token.id} + 1);
    if (!key.empty()) tries_[token.normalized ? 1 : 0].insert(key, index);
    keys_.push_back(key);
    tokens_.push_back(std::move(token));
  }
}

const AddedToken* AddedTokens::find(int64_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::vector<Segment> AddedTokens::split(const std::string& text, bool normalized) const {
  const Trie& trie = tries_[normalized ? 1 : 0];
  std::vector<Segment> out;
  if (trie.nodes.empty()) {
    if (!text.empty()) out.push_back({0, text.size(), -1});
    return out;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t match_end = 0;
    const int32_t index = trie.longest(text, pos, &match_end);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[static_cast<size_t>(index)];
    size_t start = pos;
    size_t stop = match_end;
    pos = match_end;
    if (token.single_word) {
      size_t n = 0;
      const bool space_before = start == 0 || !is_word_char(last_char(text, start));
      const bool space_after = stop == text.size() || !is_word_char(decode_utf8(text, stop, &n));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) {
      size_t s = start;
      while (s > 0) {
        size_t b = s - 1;
        while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
        size_t n = 0;
        if (!is_unicode_whitespace(decode_utf8(text, b, &n))) break;
        s = b;
      }
      start = std::max(s, start_offset);
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t n = 0;
        if (!is_unicode_whitespace(decode_utf8(text, stop, &n))) break;
        stop += n;
      }
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
    pos = std::max(pos, stop);
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

}  // namespace atman::hf
