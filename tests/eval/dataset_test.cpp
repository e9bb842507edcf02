// The items.jsonl reader (eval/dataset.h) that `atman accuracy` and
// `atman eval` share: good sets, and every message for a bad one.
#include "eval/dataset.h"

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace atman {
namespace {

using testing::expect_error;
using testing::TempDir;
using testing::write_file;

// Writes `folder`/items.jsonl, making the folder.
void write_items(const std::string& folder, const std::string& text) {
  std::filesystem::create_directories(folder);
  write_file(folder + "/items.jsonl", text);
}

TEST(DatasetTest, ReadsOneSetOrEveryTaskFolderInNameOrder) {
  TempDir tmp;
  write_items(tmp.path("sets/b_text"),
              "{\"id\": \"t1\", \"task\": \"facts_qa\", \"prompt\": \"A likes b. Answer:\", \"answer\": \"b\", "
              "\"evidence_span\": [0, 10]}\n\n  \n"
              "{\"id\": \"t2\", \"prompt\": \"C likes d.\", \"answer\": \"d\", \"target\": \" d!\", \"image\": null}\n");
  write_items(tmp.path("sets/a_image"),
              "{\"id\": \"i1\", \"image\": \"x.png\", \"mask\": \"sub/../m.png\", \"question\": \"What?\", "
              "\"answer\": \"red\"}\n");
  const auto items = read_dataset(tmp.path("sets"));
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].id, "i1");
  EXPECT_EQ(items[0].task, "a_image");  // the folder's name when the item has none
  EXPECT_EQ(items[0].image, tmp.path("sets/a_image/x.png"));
  EXPECT_EQ(items[0].mask, tmp.path("sets/a_image/m.png"));  // resolved and normalised
  EXPECT_EQ(items[0].question, "What?");
  EXPECT_EQ(items[0].prompt, "");
  EXPECT_EQ(items[0].target, " red");  // " " + answer
  EXPECT_EQ(items[0].evidence_span[0], -1);
  EXPECT_EQ(items[0].folder, tmp.path("sets/a_image"));
  EXPECT_EQ(items[0].line, 1);
  EXPECT_EQ(items[1].task, "facts_qa");
  EXPECT_EQ(items[1].evidence_span[0], 0);
  EXPECT_EQ(items[1].evidence_span[1], 10);
  EXPECT_EQ(items[2].id, "t2");
  EXPECT_EQ(items[2].line, 4);  // blank lines are skipped but counted
  EXPECT_EQ(items[2].target, " d!");
  EXPECT_EQ(items[2].image, "");  // null is absent
  // One set folder on its own.
  EXPECT_EQ(read_dataset(tmp.path("sets/b_text")).size(), 2u);
  // An absolute path stays.
  write_items(tmp.path("sets/a_image"),
              "{\"image\": \"/abs/x.png\", \"prompt\": \"p\", \"answer\": \"a\"}\n");
  EXPECT_EQ(read_dataset(tmp.path("sets/a_image"))[0].image, "/abs/x.png");
}

TEST(DatasetTest, EveryFolderProblemHasItsMessage) {
  TempDir tmp;
  expect_error([&] { read_dataset(tmp.path("nope")); },
               {"dataset folder not found: " + tmp.path("nope") + ": not a folder of evaluation data"});
  write_file(tmp.path("file"), "x");
  expect_error([&] { read_dataset(tmp.path("file")); }, {"dataset folder not found: " + tmp.path("file")});
  std::filesystem::create_directories(tmp.path("empty/sub"));
  expect_error([&] { read_dataset(tmp.path("empty")); },
               {tmp.path("empty") + ": no items.jsonl in it or in its subfolders (expected e.g. data/heldout)"});
  write_items(tmp.path("blank"), "\n \n");
  expect_error([&] { read_dataset(tmp.path("blank")); }, {tmp.path("blank/items.jsonl") + ": no items"});
}

TEST(DatasetTest, EveryBadItemNamesItsFileAndLine) {
  TempDir tmp;
  const std::string file = tmp.path("items.jsonl");
  const std::string good = "{\"prompt\": \"p\", \"answer\": \"a\"}\n";
  struct Case {
    std::string line;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"not json", "not a JSON object"},
      {"[1, 2]", "not a JSON object"},
      {"{\"prompt\": 5, \"answer\": \"a\"}", "\"prompt\" must be a string"},
      {"{\"id\": 7, \"prompt\": \"p\", \"answer\": \"a\"}", "\"id\" must be a string"},
      {"{\"prompt\": \"p\", \"answer\": \"a\", \"evidence_span\": [5, 2]}",
       "\"evidence_span\" must be [start, end) with 0 <= start < end, got [5,2]"},
      {"{\"prompt\": \"p\", \"answer\": \"a\", \"evidence_span\": [-1, 2]}",
       "\"evidence_span\" must be [start, end) with 0 <= start < end, got [-1,2]"},
      {"{\"prompt\": \"p\", \"answer\": \"a\", \"evidence_span\": \"0-2\"}",
       "\"evidence_span\" must be [start, end) with 0 <= start < end, got \"0-2\""},
      {"{\"prompt\": \"p\"}", "field \"answer\" is missing or empty"},
      {"{\"answer\": \"a\"}", "neither \"prompt\" nor \"question\" is given"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    write_file(file, good + c.line + "\n" + good);
    expect_error([&] { read_dataset(tmp.dir().string()); }, {"bad dataset item at " + file + ":2: " + c.why});
  }
}

TEST(DatasetTest, WhatTheCallerThrowsIsReportedForItsItem) {
  TempDir tmp;
  write_file(tmp.path("items.jsonl"), "{\"id\": \"a\"}\n{\"id\": \"b\"}\n");
  std::vector<std::string> seen;
  expect_error([&] {
    for_each_dataset_item(tmp.dir().string(), [&](const DatasetItem& item) {
      seen.push_back(item.id);
      if (item.id == "b") throw std::runtime_error("no good\nsecond line");
    });
  }, {"bad dataset item at " + tmp.path("items.jsonl") + ":2: no good"});
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace atman
