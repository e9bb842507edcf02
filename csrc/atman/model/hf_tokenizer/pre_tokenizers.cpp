#include "atman/model/hf_tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "atman/model/hf_tokenizer/byte_level.h"
#include "atman/model/hf_tokenizer/component_type.h"
#include "atman/model/hf_tokenizer/pattern.h"

namespace atman::hf {

const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

using nlohmann::json;

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const json& value) {
  const std::string name = value.is_string() ? value.get<std::string>() : value.dump();
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  throw std::invalid_argument("pre_tokenizer Split: behavior " + json(name).dump() +
                              " is not supported (supported: Removed, Isolated, MergedWithPrevious, "
                              "MergedWithNext, Contiguous)");
}

struct Part {
  size_t begin, end;
  bool match;
};

// Splits `text` at `matches` as Hugging Face's NormalizedString::split does.
std::vector<std::pair<size_t, size_t>> split_ranges(size_t size, const std::vector<std::pair<size_t, size_t>>& matches,
                                                    Behavior behavior, bool invert) {
  std::vector<Part> parts;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) parts.push_back({prev, b, invert});
    parts.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != size) parts.push_back({prev, size, invert});

  std::vector<Part> kept;
  switch (behavior) {
    case Behavior::kIsolated:
      kept = parts;
      break;
    case Behavior::kRemoved:
      for (const Part& p : parts) {
        if (!p.match) kept.push_back(p);
      }
      break;
    case Behavior::kContiguous: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.match == previous_match && !kept.empty()) {
          kept.back().end = p.end;
        } else {
          kept.push_back(p);
        }
        previous_match = p.match;
      }
      break;
    }
    case Behavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Part& p : parts) {
        if (p.match && !previous_match && !kept.empty()) {
          kept.back().end = p.end;
        } else {
          kept.push_back(p);
        }
        previous_match = p.match;
      }
      break;
    }
    case Behavior::kMergedWithNext: {
      bool previous_match = false;
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back(*it);
        }
        previous_match = it->match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  std::vector<std::pair<size_t, size_t>> out;
  for (const Part& p : kept) {
    if (p.end > p.begin) out.emplace_back(p.begin, p.end);
  }
  return out;
}

void split_all(std::vector<NormalizedText>& pieces, const Pattern& pattern, Behavior behavior, bool invert) {
  std::vector<NormalizedText> out;
  out.reserve(pieces.size());
  for (const NormalizedText& piece : pieces) {
    for (const auto& [b, e] : split_ranges(piece.text.size(), pattern.find_all(piece.text), behavior, invert)) {
      out.push_back(piece.slice(b, e));
    }
  }
  pieces = std::move(out);
}

class Split final : public PreTokenizer {
 public:
  explicit Split(const json& config)
      : pattern_(config.at("pattern"), "pre_tokenizer Split"),
        behavior_(parse_behavior(config.at("behavior"))),
        invert_(config.value("invert", false)) {}
  void pre_tokenize(std::vector<NormalizedText>& pieces) const override {
    split_all(pieces, pattern_, behavior_, invert_);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class ByteLevel final : public PreTokenizer {
 public:
  explicit ByteLevel(const json& config)
      : add_prefix_space_(config.value("add_prefix_space", true)), use_regex_(config.value("use_regex", true)) {
    if (use_regex_) regex_ = std::make_unique<Pattern>(json{{"Regex", kGpt2Pattern}}, "pre_tokenizer ByteLevel");
  }
  bool byte_level() const override { return true; }
  void pre_tokenize(std::vector<NormalizedText>& pieces) const override {
    if (add_prefix_space_) {
      for (NormalizedText& piece : pieces) {
        if (piece.empty() || piece.text[0] == ' ') continue;
        size_t n = 0;
        decode_utf8(piece.text, 0, &n);
        NormalizedText with_space;
        with_space.append(" ", piece.original_span(0, n));
        with_space.append(piece);
        piece = std::move(with_space);
      }
    }
    if (use_regex_) split_all(pieces, *regex_, Behavior::kIsolated, false);
    for (NormalizedText& piece : pieces) {
      NormalizedText mapped;
      mapped.text.reserve(piece.text.size() * 2);
      mapped.align.reserve(piece.text.size() * 2);
      for (size_t i = 0; i < piece.text.size();) {
        const size_t n = std::min(utf8_length(static_cast<unsigned char>(piece.text[i])), piece.text.size() - i);
        const Span span = piece.original_span(i, i + n);
        for (size_t k = 0; k < n; ++k) mapped.append(byte_to_char(static_cast<uint8_t>(piece.text[i + k])), span);
        i += n;
      }
      piece = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
  std::unique_ptr<Pattern> regex_;
};

// Spaces become `replacement` ("▁"), which is prepended per prepend_scheme and
// where each word then starts (split: MergedWithNext on the replacement).
class Metaspace final : public PreTokenizer {
 public:
  explicit Metaspace(const json& config)
      : replacement_(config.value("replacement", std::string("\xe2\x96\x81"))),
        split_(config.value("split", true)),
        pattern_(json{{"String", replacement_}}, "pre_tokenizer Metaspace") {
    std::string scheme = config.value("prepend_scheme", std::string());
    if (scheme.empty()) scheme = config.value("add_prefix_space", true) ? "always" : "never";
    if (scheme != "always" && scheme != "first" && scheme != "never") {
      throw std::invalid_argument("pre_tokenizer Metaspace: prepend_scheme " + json(scheme).dump() +
                                  " is not supported (supported: always, first, never)");
    }
    scheme_ = scheme;
  }
  void pre_tokenize(std::vector<NormalizedText>& pieces) const override {
    for (NormalizedText& piece : pieces) {
      NormalizedText out;
      for (size_t i = 0; i < piece.text.size(); ++i) {
        if (piece.text[i] == ' ') {
          out.append(replacement_, piece.align[i]);
        } else {
          out.append(std::string_view(&piece.text[i], 1), piece.align[i]);
        }
      }
      const bool first = !piece.align.empty() && piece.align[0].begin == 0;
      const bool prepend = scheme_ == "always" || (scheme_ == "first" && first);
      if (prepend && !out.empty() && out.text.rfind(replacement_, 0) != 0) {
        NormalizedText with;
        with.append(replacement_, out.original_span(0, 1));
        with.append(out);
        out = std::move(with);
      }
      piece = std::move(out);
    }
    if (split_) split_all(pieces, pattern_, Behavior::kMergedWithNext, false);
  }

 private:
  std::string replacement_;
  bool split_;
  Pattern pattern_;
  std::string scheme_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(const json& config) {
    for (const json& item : config.at("pretokenizers")) {
      if (auto p = make_pre_tokenizer(item)) parts_.push_back(std::move(p));
    }
  }
  bool byte_level() const override {
    for (const auto& part : parts_) {
      if (part->byte_level()) return true;
    }
    return false;
  }
  void pre_tokenize(std::vector<NormalizedText>& pieces) const override {
    for (const auto& part : parts_) part->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& config) {
  if (config.is_null()) return nullptr;
  const std::string type = component_type(config);
  try {
    if (type == "Split") return std::make_unique<Split>(config);
    if (type == "ByteLevel") return std::make_unique<ByteLevel>(config);
    if (type == "Metaspace") return std::make_unique<Metaspace>(config);
    if (type == "Sequence") return std::make_unique<Sequence>(config);
  } catch (const json::exception& e) {
    throw malformed_component("pre_tokenizer", type, e);
  }
  throw unsupported_component("pre_tokenizer", config, "Split, ByteLevel, Metaspace, Sequence");
}

}  // namespace atman::hf
