// `atman accuracy`: exact-match accuracy of greedy answers per task of a
// benchmark set, in one process or sharded over ranks (docs/distributed.md).

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "atman/base/fingerprint.h"
#include "atman/io/atomic_file.h"
#include "atman/io/image.h"
#include "atman/model/answer.h"
#include "atman/model/model.h"
#include "atman/model/sequence.h"
#include "atman/runtime/cpu_budget.h"
#include "atman/runtime/distributed.h"
#include "commands.h"
#include "distributed_flags.h"
#include "eval/dataset.h"
#include "flag_checks.h"
#include "input_flags.h"
#include "progress.h"

namespace atman::runner {
namespace {

struct AccuracyArgs {
  std::string model, data, json;
  int64_t limit = 0;
  int64_t threads = 0;
  bool quiet = false;
  DistributedArgs dist;
};

struct TaskScore {
  int64_t correct = 0;
  int64_t total = 0;
};

int accuracy_as_rank(const AccuracyArgs& a, int64_t threads_wanted, ProcessGroup* group);

int run_accuracy(const AccuracyArgs& a) {
  if (a.limit < 0) throw UsageError("--limit must be >= 0, got " + std::to_string(a.limit));
  check_int_flag("--threads", a.threads, 0, kMaxThreads);
  if (a.dist.processes > 0) return run_processes(a.dist);
  // One rank of a sharded run (docs/distributed.md): torchrun's environment or --distributed.
  const std::optional<GroupConfig> group_config = resolve_group(a.dist);
  const bool root = !group_config || group_config->rank == 0;
  if (root && !a.json.empty()) check_output_path(a.json, "json");
  const int64_t threads_wanted = rank_threads(a.threads, group_config);
  std::unique_ptr<ProcessGroup> group;
  if (group_config) group = join_group(*group_config);
  return as_rank(group.get(), [&] { return accuracy_as_rank(a, threads_wanted, group.get()); });
}

// Every selected item (--limit per task), task by task.
std::vector<const DatasetItem*> selected_items(const std::vector<DatasetItem>& items, int64_t limit) {
  std::map<std::string, std::vector<const DatasetItem*>> by_task;
  for (const auto& item : items) {
    auto& list = by_task[item.task];
    if (limit == 0 || static_cast<int64_t>(list.size()) < limit) list.push_back(&item);
  }
  std::vector<const DatasetItem*> order;
  for (const auto& [task, list] : by_task) order.insert(order.end(), list.begin(), list.end());
  return order;
}

// Rank 0 takes every other rank's answers (item k is rank k % ranks's);
// false on the other ranks, which are done.
bool gather_answers(ProcessGroup& group, std::vector<std::string>& answers) {
  const int64_t ranks = group.world_size(), rank = group.rank();
  nlohmann::json own = nlohmann::json::array();
  for (size_t k = rank; k < answers.size(); k += ranks) own.push_back(answers[k]);
  const std::vector<std::string> all = group.exchange("accuracy/answers", own.dump());
  if (rank != 0) return false;
  for (int64_t r = 1; r < ranks; ++r) {
    size_t k = r;
    for (const auto& got : nlohmann::json::parse(all[r])) {
      answers.at(k) = got.get<std::string>();
      k += ranks;
    }
  }
  return true;
}

// Scores the answers per task, prints the table and writes --json.
void report_accuracy(const AccuracyArgs& a, const std::string& model_name, const std::vector<const DatasetItem*>& order,
                     const std::vector<std::string>& answers, int64_t threads, double seconds, ProcessGroup* group) {
  std::map<std::string, TaskScore> scores;
  nlohmann::json wrong = nlohmann::json::array();
  for (size_t k = 0; k < order.size(); ++k) {
    const DatasetItem* item = order[k];
    TaskScore& score = scores[item->task];
    ++score.total;
    if (answers[k] == item->answer) {
      ++score.correct;
    } else if (wrong.size() < 50) {
      wrong.push_back({{"id", item->id}, {"expected", item->answer}, {"got", answers[k]}});
    }
  }
  nlohmann::json report = {{"model", model_name}, {"data", a.data}, {"threads", threads},
                           {"seconds", seconds}, {"tasks", nlohmann::json::object()}, {"first_errors", wrong}};
  std::printf("%-12s %8s %8s %9s\n", "task", "correct", "items", "accuracy");
  for (const auto& [task, score] : scores) {
    const double accuracy = score.total ? static_cast<double>(score.correct) / score.total : 0.0;
    std::printf("%-12s %8lld %8lld %8.1f%%\n", task.c_str(), static_cast<long long>(score.correct),
                static_cast<long long>(score.total), 100.0 * accuracy);
    report["tasks"][task] = {{"correct", score.correct}, {"items", score.total}, {"accuracy", accuracy}};
  }
  if (group) report["world_size"] = group->world_size();
  if (!a.json.empty()) write_file_atomically(a.json, report.dump(2) + "\n", "json");
  std::fflush(stdout);
}

int accuracy_as_rank(const AccuracyArgs& a, int64_t threads_wanted, ProcessGroup* group) {
  const int64_t threads = set_threads(threads_wanted);
  const auto model = Model::load(a.model);
  const auto items = read_dataset(a.data);
  const std::vector<const DatasetItem*> order = selected_items(items, a.limit);
  const int64_t total_items = static_cast<int64_t>(order.size());
  const int64_t ranks = group ? group->world_size() : 1;
  const int64_t rank = group ? group->rank() : 0;
  if (group) {
    std::string what = fmt::format("{}|", a.limit);
    for (const DatasetItem* item : order) {
      what += item->id + "|" + item->answer + "|" + item->prompt + "|" + item->question + "|" + item->image + "\n";
    }
    group->check_same("the model and the items", fingerprint_hex(what, file_fingerprint_hex(a.model)));
  }

  // Item k is rank k % ranks's; rank 0 gathers every answer and scores them in item order.
  ProgressBar bar(!a.quiet && rank == 0);
  std::vector<std::string> answers(order.size());
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  const int64_t mine = (total_items - rank + ranks - 1) / ranks;
  for (int64_t k = rank; k < total_items; k += ranks) {
    const DatasetItem* item = order[k];
    cv::Mat image;
    if (!item->image.empty()) image = read_image_rgb(item->image);
    const std::string prompt = item->prompt.empty() ? prompt_from_question(model->config(), item->question)
                                                    : item->prompt;
    answers[k] = greedy_answer(*model, prompt, image).text;
    bar.update(++done, mine, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  bar.finish();
  if (!group || gather_answers(*group, answers)) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report_accuracy(a, model->config().name, order, answers, threads, seconds, group);
  }
  if (group) group->finish();
  return 0;
}

}  // namespace

Command add_accuracy_command(CLI::App& app) {
  auto args = std::make_shared<AccuracyArgs>();
  CLI::App* sub = app.add_subcommand("accuracy", "Exact-match accuracy of greedy answers per task of a benchmark set");
  add_model_flag(sub, args->model);
  sub->add_option("--data", args->data, "Folder with items.jsonl, or with task folders that have one")->required();
  sub->add_option("--limit", args->limit, "Items per task (0: all)")->capture_default_str();
  sub->add_option("--json", args->json, "Also write the scores as JSON here");
  add_threads_flag(sub, args->threads);
  sub->add_flag("--quiet,-q", args->quiet, "No progress bar");
  add_distributed_flags(sub, args->dist);
  return {sub, [args] { return run_accuracy(*args); }};
}

}  // namespace atman::runner
