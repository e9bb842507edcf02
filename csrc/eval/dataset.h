#pragma once
// Benchmark sets written by tools/make_datasets.py: one items.jsonl per task
// folder (shapes_vqa: image + mask + question; facts_qa: verbatim prompt +
// evidence span). Read by `atman accuracy` and `atman eval`.

#include <array>
#include <string>
#include <vector>

namespace atman {

/// One benchmark item. Paths are absolute (resolved against items.jsonl's folder).
struct DatasetItem {
  std::string id;
  std::string task;      // "shapes_vqa" or "facts_qa" (or any other name)
  std::string image;     // empty for text items
  std::string mask;      // empty for text items
  std::string question;  // filled into the model's prompt_template when `prompt` is empty
  std::string prompt;    // verbatim prompt (text items)
  std::string answer;    // expected greedy answer
  std::string target;    // explained target, " " + answer
  std::array<int64_t, 2> evidence_span{{-1, -1}};  // [start, end) in prompt characters; -1 if none
};

/// Reads DIR/items.jsonl, or every DIR/*/items.jsonl (sorted by folder name)
/// when DIR has none. Throws std::runtime_error with one line naming the file
/// and line of a malformed item, or DIR when it holds no set.
std::vector<DatasetItem> read_dataset(const std::string& dir);

}  // namespace atman
