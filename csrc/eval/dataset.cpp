#include "eval/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/base/text.h"

namespace atman {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string string_field(const json& row, const char* key) {
  const auto it = row.find(key);
  if (it == row.end() || it->is_null()) return "";
  if (!it->is_string()) throw std::runtime_error(fmt::format("\"{}\" must be a string", key));
  return it->get<std::string>();
}

std::string resolve(const fs::path& folder, const std::string& relative) {
  if (relative.empty()) return "";
  const fs::path path(relative);
  return (path.is_absolute() ? path : folder / path).lexically_normal().string();
}

std::array<int64_t, 2> evidence_span(const json& row) {
  const auto span = row.find("evidence_span");
  if (span == row.end() || span->is_null()) return {{-1, -1}};
  if (!span->is_array() || span->size() != 2 || !(*span)[0].is_number_integer() ||
      !(*span)[1].is_number_integer() || (*span)[0].get<int64_t>() < 0 ||
      (*span)[1].get<int64_t>() <= (*span)[0].get<int64_t>()) {
    throw std::runtime_error("\"evidence_span\" must be [start, end) with 0 <= start < end, got " + span->dump());
  }
  return {{(*span)[0].get<int64_t>(), (*span)[1].get<int64_t>()}};
}

DatasetItem parse_item(const std::string& text, const fs::path& folder, int64_t line) {
  const json row = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (row.is_discarded() || !row.is_object()) throw std::runtime_error("not a JSON object");
  DatasetItem item;
  item.id = string_field(row, "id");
  item.task = string_field(row, "task");
  if (item.task.empty()) item.task = folder.filename().string();
  item.image = resolve(folder, string_field(row, "image"));
  item.mask = resolve(folder, string_field(row, "mask"));
  item.question = string_field(row, "question");
  item.prompt = string_field(row, "prompt");
  item.answer = string_field(row, "answer");
  item.target = string_field(row, "target");
  if (item.target.empty() && !item.answer.empty()) item.target = " " + item.answer;
  item.evidence_span = evidence_span(row);
  item.folder = folder.string();
  item.line = line;
  return item;
}

void read_items_file(const fs::path& folder, const std::function<void(const DatasetItem&)>& use) {
  const fs::path file = folder / "items.jsonl";
  std::ifstream in(file);
  if (!in) throw std::runtime_error(file.string() + ": cannot be read");
  std::string text;
  int64_t line = 0, items = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      use(parse_item(text, folder, line));
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("bad dataset item at {}:{}: {}", file.string(), line,
                                           first_line(e.what(), std::string::npos)));
    }
    ++items;
  }
  if (items == 0) throw std::runtime_error(file.string() + ": no items");
}

}  // namespace

void for_each_dataset_item(const std::string& dir, const std::function<void(const DatasetItem&)>& use) {
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    throw std::runtime_error("dataset folder not found: " + dir + ": not a folder of evaluation data");
  }
  if (fs::exists(fs::path(dir) / "items.jsonl", error)) return read_items_file(dir, use);
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (entry.is_directory() && fs::exists(entry.path() / "items.jsonl")) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  if (folders.empty()) {
    throw std::runtime_error(dir + ": no items.jsonl in it or in its subfolders (expected e.g. data/heldout)");
  }
  for (const auto& folder : folders) read_items_file(folder, use);
}

std::vector<DatasetItem> read_dataset(const std::string& dir) {
  std::vector<DatasetItem> items;
  for_each_dataset_item(dir, [&](const DatasetItem& item) {
    if (item.answer.empty()) throw std::runtime_error("field \"answer\" is missing or empty");
    if (item.prompt.empty() && item.question.empty()) {
      throw std::runtime_error("neither \"prompt\" nor \"question\" is given");
    }
    items.push_back(item);
  });
  return items;
}

}  // namespace atman
