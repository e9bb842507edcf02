#include "eval/dataset.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace atman {
namespace {

namespace fs = std::filesystem;

std::string string_field(const nlohmann::json& row, const char* key) {
  const auto it = row.find(key);
  if (it == row.end() || it->is_null()) return "";
  if (!it->is_string()) throw std::runtime_error(std::string("field \"") + key + "\" is not a string");
  return it->get<std::string>();
}

std::string resolve(const fs::path& folder, const std::string& relative) {
  if (relative.empty()) return "";
  const fs::path path(relative);
  return (path.is_absolute() ? path : folder / path).lexically_normal().string();
}

DatasetItem parse_item(const nlohmann::json& row, const fs::path& folder) {
  if (!row.is_object()) throw std::runtime_error("an item is not a JSON object");
  DatasetItem item;
  item.id = string_field(row, "id");
  item.task = string_field(row, "task");
  item.image = resolve(folder, string_field(row, "image"));
  item.mask = resolve(folder, string_field(row, "mask"));
  item.question = string_field(row, "question");
  item.prompt = string_field(row, "prompt");
  item.answer = string_field(row, "answer");
  item.target = string_field(row, "target");
  if (item.target.empty() && !item.answer.empty()) item.target = " " + item.answer;
  if (item.answer.empty()) throw std::runtime_error("field \"answer\" is missing or empty");
  if (item.prompt.empty() && item.question.empty()) throw std::runtime_error("neither \"prompt\" nor \"question\" is given");
  if (item.task.empty()) item.task = folder.filename().string();
  const auto span = row.find("evidence_span");
  if (span != row.end() && !span->is_null()) {
    if (!span->is_array() || span->size() != 2 || !(*span)[0].is_number_integer() || !(*span)[1].is_number_integer())
      throw std::runtime_error("field \"evidence_span\" is not [start, end]");
    item.evidence_span = {(*span)[0].get<int64_t>(), (*span)[1].get<int64_t>()};
  }
  return item;
}

void read_items_file(const fs::path& file, std::vector<DatasetItem>& items) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot read dataset " + file.string());
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      items.push_back(parse_item(nlohmann::json::parse(line), file.parent_path()));
    } catch (const std::exception& e) {
      std::string why = e.what();
      why = why.substr(0, why.find('\n'));
      throw std::runtime_error("bad dataset item at " + file.string() + ":" + std::to_string(line_number) + ": " + why);
    }
  }
}

}  // namespace

std::vector<DatasetItem> read_dataset(const std::string& dir) {
  const fs::path root(dir);
  std::error_code error;
  if (!fs::is_directory(root, error)) throw std::runtime_error("dataset folder not found: " + dir);
  std::vector<DatasetItem> items;
  if (fs::exists(root / "items.jsonl")) {
    read_items_file(root / "items.jsonl", items);
  } else {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(root, error))
      if (entry.is_directory() && fs::exists(entry.path() / "items.jsonl")) files.push_back(entry.path() / "items.jsonl");
    std::sort(files.begin(), files.end());
    for (const auto& file : files) read_items_file(file, items);
  }
  if (items.empty()) throw std::runtime_error("no items.jsonl with items in " + dir);
  return items;
}

}  // namespace atman
