#include "atman/model/hf_tokenizer/regex.h"

#include <mutex>
#include <stdexcept>

#include <oniguruma.h>

#include "atman/model/hf_tokenizer/normalized_text.h"

namespace atman::hf {
namespace {

// Oniguruma's API: creating or freeing regex objects must not happen in
// several threads at once (even for different objects); searching may.
std::mutex& lifetime_mutex() {
  static std::mutex m;
  return m;
}

void initialize_oniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

struct RegionDeleter {
  void operator()(OnigRegion* region) const { onig_region_free(region, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern) {
  initialize_oniguruma();
  regex_t* compiled = nullptr;
  OnigErrorInfo info{};
  const auto* begin = reinterpret_cast<const OnigUChar*>(pattern.data());
  std::lock_guard<std::mutex> lock(lifetime_mutex());
  const int rc = onig_new(&compiled, begin, begin + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                          ONIG_SYNTAX_DEFAULT, &info);
  if (rc != ONIG_NORMAL) {
    OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(message, rc, &info);
    throw std::invalid_argument(reinterpret_cast<const char*>(message));
  }
  regex_ = compiled;
}

Regex::~Regex() {
  std::lock_guard<std::mutex> lock(lifetime_mutex());
  if (regex_ != nullptr) onig_free(static_cast<regex_t*>(regex_));
}

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  if (text.empty()) return out;
  auto* reg = static_cast<regex_t*>(regex_);
  std::unique_ptr<OnigRegion, RegionDeleter> region(onig_region_new());
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  size_t start = 0;
  while (start < text.size()) {
    onig_region_clear(region.get());
    const int rc = onig_search(reg, str, end, str + start, end, region.get(), ONIG_OPTION_NONE);
    if (rc == ONIG_MISMATCH) break;
    if (rc < 0) {
      OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(message, rc);
      throw std::runtime_error(std::string("regular expression search failed: ") +
                               reinterpret_cast<const char*>(message));
    }
    const auto b = static_cast<size_t>(region->beg[0]);
    const auto e = static_cast<size_t>(region->end[0]);
    out.emplace_back(b, e);
    start = e > b ? e : b + utf8_length(static_cast<unsigned char>(text[b < text.size() ? b : text.size() - 1]));
  }
  return out;
}

}  // namespace atman::hf
