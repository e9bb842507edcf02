#pragma once
// Benchmark sets written by tools/make_datasets.py: one items.jsonl per task
// folder (shapes_vqa: image + mask + question; facts_qa: verbatim prompt +
// evidence span). The one reader of items.jsonl: `atman accuracy`
// (read_dataset) and `atman eval` (eval/eval_data.h load_eval_sets) both go
// through for_each_dataset_item.
//
// Usage:
//   for_each_dataset_item("data/heldout", [&](const DatasetItem& item) {
//     if (item.answer.empty()) throw std::runtime_error("...");  // reported with the file and line
//   });

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace atman {

/// One line of items.jsonl, read by one set of rules: every field is a
/// string when given (absent or null: empty); paths are resolved against the
/// folder of items.jsonl.
struct DatasetItem {
  std::string id;        // empty when absent
  std::string task;      // "shapes_vqa" or "facts_qa" (or any other name); the folder's name when absent
  std::string image;     // empty for text items
  std::string mask;      // empty for text items
  std::string question;  // filled into the model's prompt_template when `prompt` is empty
  std::string prompt;    // verbatim prompt (text items)
  std::string answer;    // expected greedy answer
  std::string target;    // explained target; " " + answer when absent
  std::array<int64_t, 2> evidence_span{{-1, -1}};  // [start, end) in prompt characters; -1 if none
  std::string folder;    // the set folder holding items.jsonl
  int64_t line = 0;      // 1-based line in items.jsonl
};

/// Calls `use` for every item of DIR/items.jsonl, or of every DIR/*/items.jsonl
/// (in folder-name order) when DIR has none; blank lines are skipped. Throws
/// std::runtime_error with one line:
///   "dataset folder not found: DIR: not a folder of evaluation data"
///   "DIR: no items.jsonl in it or in its subfolders (expected e.g. data/heldout)"
///   "FILE: cannot be read", "FILE: no items"
///   "bad dataset item at FILE:LINE: WHY" for a line that is not a JSON object,
///     a field that is not a string, an "evidence_span" that is not [start, end)
///     with 0 <= start < end, or anything `use` throws for the item.
void for_each_dataset_item(const std::string& dir, const std::function<void(const DatasetItem&)>& use);

/// Every item of DIR (as for_each_dataset_item), each with an "answer" and a
/// "prompt" or "question": the sets of `atman accuracy`.
std::vector<DatasetItem> read_dataset(const std::string& dir);

}  // namespace atman
