// `atman tokenize`: the ids and pieces a model sees, so that users can write
// targets (mind the leading space) and check a prompt template.
//
//   --text T, --jsonl F    the text alone: no BOS, no template (as a target is encoded)
//   --prompt P, --question Q   exactly the prompt sequence `atman explain` builds

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "commands.h"
#include "input_flags.h"
#include "token_documents.h"

namespace atman::runner {
namespace {

enum class Source { kText, kPrompt, kQuestion, kJsonl };

struct TokenizeArgs {
  std::string model, text, prompt, question, jsonl;
  bool json = false;
};

// Longest accepted line of --jsonl and --text (the tokenizer's work is linear; this bounds memory).
constexpr size_t kMaxTextBytes = size_t{64} << 20;

// A piece on one terminal line: control characters as \n, \t or \xNN.
std::string printable(const std::string& piece) {
  std::string out;
  for (unsigned char c : piece) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void print_table(const Tokenizer& tokenizer, const std::vector<int64_t>& ids, int64_t image_index,
                 int64_t image_positions) {
  for (size_t k = 0; k <= ids.size(); ++k) {
    if (image_positions > 0 && static_cast<int64_t>(k) == image_index) {
      std::printf("[image: %lld positions]\n", static_cast<long long>(image_positions));
    }
    if (k == ids.size()) break;
    std::printf("%8lld  %s%s\n", static_cast<long long>(ids[k]), printable(tokenizer.vocab_piece(ids[k])).c_str(),
                tokenizer.is_special(ids[k]) ? "  (special)" : "");
  }
}

std::vector<int64_t> encode_text(const Tokenizer& tokenizer, const std::string& text, const std::string& what) {
  if (text.size() > kMaxTextBytes) {
    throw std::invalid_argument(fmt::format("{} is {} bytes, more than the {} accepted", what, text.size(), kMaxTextBytes));
  }
  if (!is_valid_utf8(text)) throw std::invalid_argument(what + " is not valid UTF-8");
  return tokenizer.encode(text);
}

// --jsonl: one JSON string per line in, one line out (ids, or the JSON document).
int tokenize_lines(const Tokenizer& tokenizer, const TokenizeArgs& a) {
  std::ifstream in(a.jsonl, std::ios::binary);
  if (!in) throw std::runtime_error(a.jsonl + ": cannot open");
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    const std::string where = fmt::format("{}:{}", a.jsonl, number);
    nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
    if (!value.is_string()) throw std::invalid_argument(where + ": expected one JSON string per line");
    const std::vector<int64_t> ids = encode_text(tokenizer, value.get<std::string>(), where);
    if (a.json) {
      std::printf("%s\n", ids_document(tokenizer, ids).dump().c_str());
    } else {
      std::printf("%s\n", fmt::format("{}", fmt::join(ids, " ")).c_str());
    }
  }
  if (in.bad()) throw std::runtime_error(a.jsonl + ": read error");
  return 0;
}

// --prompt / --question: the sequence's prompt part as `atman explain` builds it.
int tokenize_prompt(const Model& model, const TokenizeArgs& a, bool has_question) {
  const std::string prompt = has_question ? prompt_from_question(model.config(), a.question) : a.prompt;
  check_input_text(prompt, "prompt");
  const PromptIds p = prompt_ids(model.config(), model.tokenizer(), prompt);
  const int64_t image_positions = model.has_image() ? model.config().image->patches() : 0;
  if (a.json) {
    std::printf("%s\n", prompt_document(model, prompt, p).dump().c_str());
    return 0;
  }
  print_table(model.tokenizer(), p.ids, p.image_index, image_positions);
  std::fprintf(stderr, "%lld positions (max_positions %lld) before the target\n",
               static_cast<long long>(p.ids.size() + image_positions),
               static_cast<long long>(model.config().max_positions));
  return 0;
}

int run_tokenize(const TokenizeArgs& a, const std::vector<Source>& given) {
  if (given.size() != 1) throw UsageError("give exactly one of --text, --prompt, --question and --jsonl");
  const auto model = Model::load(a.model);
  const Tokenizer& tokenizer = model->tokenizer();
  if (given[0] == Source::kJsonl) return tokenize_lines(tokenizer, a);
  if (given[0] != Source::kText) return tokenize_prompt(*model, a, given[0] == Source::kQuestion);
  const std::vector<int64_t> ids = encode_text(tokenizer, a.text, "--text");
  if (a.json) {
    std::printf("%s\n", ids_document(tokenizer, ids).dump().c_str());
  } else {
    print_table(tokenizer, ids, 0, 0);
  }
  return 0;
}

}  // namespace

Command add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids and pieces a model sees");
  add_model_flag(sub, args->model);
  auto* text = sub->add_option("--text", args->text, "Text alone, no BOS and no template (as a target is encoded)");
  auto* prompt = sub->add_option("--prompt", args->prompt, "Prompt, verbatim: the sequence explain builds (BOS, {image})");
  auto* question = sub->add_option("--question", args->question, "Question in the model's prompt_template, as explain builds it");
  auto* jsonl = sub->add_option("--jsonl", args->jsonl, "File of one JSON string per line; one output line per input line");
  sub->add_flag("--json", args->json, "JSON output: {\"ids\": [...], \"pieces\": [...]} (per line with --jsonl)");
  sub->footer(
      "Pieces are the vocabulary's (\"Ġred\" in byte-level BPE, \"▁red\" in sentencepiece); --text \" red\" shows the\n"
      "ids of a target. Plain output: one token per line (id, piece), the image's positions as one line.");
  return {sub, [args, text, prompt, question, jsonl] {
            std::vector<Source> given;
            if (text->count() > 0) given.push_back(Source::kText);
            if (prompt->count() > 0) given.push_back(Source::kPrompt);
            if (question->count() > 0) given.push_back(Source::kQuestion);
            if (jsonl->count() > 0) given.push_back(Source::kJsonl);
            return run_tokenize(*args, given);
          }};
}

}  // namespace atman::runner
